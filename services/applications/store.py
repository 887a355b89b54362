"""Applications tables and queries: cases, and the replica of catalog items intake reads.

Full personal data (ID numbers, phone numbers) is kept here and only here; everything that
leaves this store through events is masked. Every change of a case goes through `act`: the
case is read under a write lock, the domain decides, and the new state and its event are
written in the same transaction.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from services.applications import domain
from services.applications.domain import (
    DEFAULT_PAGE,
    Applicant,
    Case,
    CaseQuery,
    CatalogItem,
    Evaluation,
    Pause,
    Review,
    Rules,
    Submission,
    Transition,
    canonical_code,
    case_number,
    check_applicant,
    check_query,
    local_date,
    normalise,
    validate_submission,
)
from services.contract import names
from services.contract.envelope import Event
from services.platform.calendar import PROVISIONAL, WEEKDAYS, WorkCalendar, default_calendar
from services.platform.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.platform.settings import Settings
from services.platform.store import Database, Tx

log = logging.getLogger(__name__)

metadata = MetaData()

cases = Table(
    "cases",
    metadata,
    Column("case_number", String(32), primary_key=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("implementation_code", String(36), nullable=False),
    Column("department_code", String(18), nullable=False, index=True),
    Column("status", String(24), nullable=False, index=True),
    Column("applicant_kind", String(10), nullable=False),
    Column("applicant_name", String(200), nullable=False),
    Column("id_number", String(18), nullable=False, index=True),
    Column("phone", String(20), nullable=False),
    Column("account_id", String(128), nullable=False, index=True),
    Column("channel", String(10), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True)),
    Column("due_date", Date),
    Column("closed_at", DateTime(timezone=True)),
    Column("warned", Boolean, nullable=False, default=False),
    Column("overdue", Boolean, nullable=False, default=False),
    Column("item", Text, nullable=False),  # JSON snapshot of the replica item at intake
    Column("state", Text, nullable=False),  # JSON: materials, reviews, pauses, result, ...
)
Index("cases_open_by_due", cases.c.status, cases.c.due_date)

case_reviewers = Table(
    "case_reviewers",
    metadata,
    # Every department that has had a review of a case (联审), once per case whatever the
    # rounds: what a listing by department finds besides the accepting department's cases.
    Column("department_code", String(18), primary_key=True),
    Column("case_number", String(32), primary_key=True),
)

_REVIEWERS_INDEXED = "applications:case_reviewers-indexed"
"""The counter that says `case_reviewers` was filled from the cases stored before it."""

catalog_items = Table(
    "catalog_items",
    metadata,
    Column("implementation_code", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("item", Text, nullable=False),  # JSON of CatalogItem
    Column("guide_version", Integer, nullable=False, default=0),
    Column("guide_materials", Text),  # JSON list of required material names, from the guide
    Column("collaborating", Text),  # JSON list of USCCs, from the guide (联办机构)
)

OPEN = tuple(s for s in domain.STATUSES if s not in domain.TERMINAL)
AWAITING_ITEM = "awaiting"  # a replica row that has a guide but not yet its item


class ApplicationsStore:
    def __init__(
        self,
        db: Database,
        *,
        settings: Settings | None = None,
        rules: Rules | None = None,
        calendar: WorkCalendar | None = None,
    ) -> None:
        self.db = db
        self.rules = rules or (rules_from(settings) if settings else Rules())
        self.calendar = calendar or default_calendar()
        self._calendar_warned: set[int] = set()
        db.create_schema(metadata)
        # Built once: constructing a statement costs SQLAlchemy more than running it.
        self._case_by_request = db.prepare(
            select(cases).where(cases.c.request_id == bindparam("id"))
        )
        self._case_locked = db.prepare(
            select(cases).where(cases.c.case_number == bindparam("number")).with_for_update()
        )
        self._published_item = db.prepare(
            select(catalog_items).where(
                catalog_items.c.implementation_code == bindparam("code"),
                catalog_items.c.status == "published",
            )
        )
        self._item_versions = db.prepare(
            select(catalog_items.c.version, catalog_items.c.guide_version).where(
                catalog_items.c.implementation_code == bindparam("code")
            )
        )
        self._insert_item = db.prepare(
            insert(catalog_items).values(
                implementation_code=bindparam("code"),
                version=bindparam("version"),
                status=bindparam("status"),
                item=bindparam("item"),
            )
        )
        self._update_item = db.prepare(
            update(catalog_items)
            .where(catalog_items.c.implementation_code == bindparam("code"))
            .values(
                version=bindparam("version"), status=bindparam("status"), item=bindparam("item")
            )
        )
        self._insert_case = db.prepare(
            insert(cases).values({c.name: bindparam(c.name) for c in cases.c})
        )
        self._update_case = db.prepare(
            update(cases)
            .where(cases.c.case_number == bindparam("number"))
            .values({c.name: bindparam(c.name) for c in cases.c if c.name != "case_number"})
        )
        self._add_reviewer = db.prepare(
            db.upsert(case_reviewers)
            .values(department_code=bindparam("department"), case_number=bindparam("number"))
            .on_conflict_do_nothing()
        )
        self._index_reviewers()

    # -- intake ------------------------------------------------------------------------

    def submit(self, submission: Submission) -> tuple[Case, bool]:
        """Receive an application; return the case and whether it is new.

        Idempotent on `request_id`: a retry with the same request returns the stored case
        without a second event; the same request id with a different application is refused.
        A retry that races its first call (both looked before either stored) gets the same
        answer once the first call's case is committed.
        """
        submission = normalise(submission)

        def again(existing: Case) -> tuple[Case, bool]:
            if not _same_request(existing, submission):
                raise FailedPrecondition(
                    f"request_id {submission.request_id} was already used for case "
                    f"{existing.case_number} with different content"
                )
            return existing, False

        def receive(tx: Tx) -> tuple[Case, bool]:
            existing = self._by_request(tx.conn, submission.request_id)
            if existing is not None:
                return again(existing)
            item = self._item(tx.conn, submission.implementation_code)
            validate_submission(submission, item)
            assert item is not None  # validate_submission refuses a missing item
            day = local_date(tx.now)
            number = case_number(
                self.db.source.division, day, self.db.next_value(tx.conn, f"case:{day:%Y%m%d}")
            )
            case = Case(
                case_number=number,
                request_id=submission.request_id,
                item=item,
                applicant=submission.applicant,
                channel=submission.channel,
                status="received",
                submitted_at=tx.now,
                materials=submission.handed_in,
                department_code=item.department_code,
                intake_materials=submission.handed_in,
            )
            self._insert_case.run(tx.conn, _row(case))
            tx.emit(names.APPLICATION_SUBMITTED, case.submitted_event(), subject=number)
            return case, True

        try:
            return self.db.write(receive)
        except IntegrityError:
            # The request id's unique key: another call stored the case first and has
            # committed (the whole attempt, its case number included, was rolled back).
            # Left to rise, the error would be INTERNAL, and its text, with the full ID
            # number and phone among the parameters, would go to the log.
            with self.db.read() as conn:
                existing = self._by_request(conn, submission.request_id)
            if existing is None:
                raise
        return again(existing)

    # -- the lifecycle -----------------------------------------------------------------

    def act(
        self,
        number: str,
        decide: Callable[[Case, datetime], Transition | Sequence[Transition]],
    ) -> Case:
        """Apply a transition (or a few that belong together, like an acceptance and the joint
        review it opens) to a case: read it under the write lock, let the domain decide
        (`decide(case, now)`), store the result and emit the events in order, in one
        transaction. Returns the case as the last transition left it."""

        def change(tx: Tx) -> Transition | DomainError:
            case = self._locked(tx.conn, number)
            deemed = domain.deemed_acceptance(case, tx.now, self.calendar, self.rules)
            for transition in deemed:  # the law accepted it already: so does the store, first
                self._save(tx, transition)
            try:
                decided = decide(deemed[-1].case if deemed else case, tx.now)
            except DomainError as exc:
                if not deemed:
                    raise
                # The deemed acceptance stands (it commits); the action is refused. But who
                # may act, and with what, is as the action met it: another department is
                # denied, not told the case's state.
                try:
                    decide(case, tx.now)
                except (PermissionDenied, InvalidArgument):
                    raise
                except DomainError:
                    pass
                if not isinstance(exc, FailedPrecondition):
                    return exc
                self._check_calendar(deemed[-1].case)
                return FailedPrecondition(
                    f"{exc} (no decision or supplement request was made within "
                    f"{self.rules.supplement_window_days} working days of receipt, so the law "
                    "deems it accepted as of receipt)"
                )
            transitions = [decided] if isinstance(decided, Transition) else list(decided)
            for transition in transitions:
                self._save(tx, transition)
            return transitions[-1]

        outcome = self.db.write(change)
        if isinstance(outcome, DomainError):
            raise outcome
        self._check_calendar(outcome.case)
        return outcome.case

    def accept(self, number: str, actor: domain.Actor) -> Case:
        """受理; for an item with collaborating departments, their reviews open at once."""
        return self.act(number, lambda c, now: domain.acceptance(c, actor, now, self.calendar))

    def refuse(self, number: str, actor: domain.Actor, reason: str) -> Case:
        return self.act(number, lambda c, now: domain.refuse(c, actor, reason, now))

    def request_supplement(
        self, number: str, actor: domain.Actor, materials: Sequence[str]
    ) -> Case:
        return self.act(
            number,
            lambda c, now: domain.request_supplement(
                c, actor, tuple(materials), now, self.calendar, self.rules
            ),
        )

    def supplement(self, number: str, applicant_id: str, materials: Sequence[str]) -> Case:
        def decide(case: Case, now: datetime) -> Transition:
            check_applicant(case, applicant_id)
            return domain.supplement(case, tuple(materials), now)

        return self.act(number, decide)

    def assign_review(self, number: str, actor: domain.Actor, departments: Sequence[str]) -> Case:
        return self.act(
            number, lambda c, now: domain.assign_review(c, actor, tuple(departments), now)
        )

    def complete_review(
        self, number: str, actor: domain.Actor, approved: bool, opinion: str
    ) -> Case:
        return self.act(
            number, lambda c, now: domain.complete_review(c, actor, approved, opinion, now)
        )

    def pause(self, number: str, actor: domain.Actor, kind: str, reason: str) -> Case:
        return self.act(number, lambda c, now: domain.pause(c, actor, kind, reason, now))

    def resume(self, number: str, actor: domain.Actor) -> Case:
        return self.act(number, lambda c, now: domain.resume(c, actor, now, self.calendar))

    def conclude(
        self, number: str, actor: domain.Actor, result_code: int, reason: str, certificate: str
    ) -> Case:
        return self.act(
            number,
            lambda c, now: domain.conclude(c, actor, result_code, reason, certificate, now),
        )

    def withdraw(self, number: str, applicant_id: str, reason: str) -> Case:
        def decide(case: Case, now: datetime) -> Transition:
            check_applicant(case, applicant_id)
            return domain.withdraw(case, reason, now, self.calendar)

        return self.act(number, decide)

    def evaluate(
        self, number: str, applicant_id: str, level: str, channel: str, comment: str
    ) -> Case:
        def decide(case: Case, now: datetime) -> Transition:
            check_applicant(case, applicant_id)
            return domain.evaluate(case, level, channel, comment, now, self.rules)

        return self.act(number, decide)

    def record_evaluation(self, event: Event) -> bool:
        """An evaluation collected by a department system (`evaluation.submitted` through
        ingress), applied once. Unknown or not-yet-concluded cases are refused."""
        data = dict(event.data)
        with self.db.consume(event) as tx:
            if tx is None:
                return False
            case = self._locked(tx.conn, data["case_number"])
            sender = canonical_code(data["department"])  # the contract takes any case
            if case.department_code != sender:
                raise FailedPrecondition(
                    f"case {case.case_number} is handled by {case.department_code}, not by "
                    f"the department {sender} that sent the evaluation"
                )
            transition = domain.evaluate(
                case,
                data["level"],
                data["channel"],
                data.get("comment") or "",
                tx.now,
                self.rules,
                source=event.source,
            )
            self._save(tx, transition)
        return True

    # -- supervision (电子监察) --------------------------------------------------------

    def supervise(self, now: datetime | None = None) -> list[Transition]:
        """Run electronic supervision over every open case: deemed acceptance, yellow
        warnings and red cards, each once per case. Returns what it announced."""
        when = now or self.db.clock()
        with self.db.read() as conn:
            numbers = (
                conn.execute(
                    select(cases.c.case_number)
                    .where(
                        cases.c.status.in_(OPEN),
                        cases.c.status != "paused",
                        or_(cases.c.overdue.is_(False), cases.c.status == "received"),
                    )
                    .order_by(cases.c.case_number)
                )
                .scalars()
                .all()
            )
        announced: list[Transition] = []
        for number in numbers:
            with self.db.transaction() as tx:
                case = self._locked(tx.conn, number)
                said = domain.supervise(case, when, self.calendar, self.rules)
                for transition in said:
                    self._save(tx, transition)
            if said:  # a deemed acceptance counts deadlines like any other
                self._check_calendar(said[-1].case)
            announced.extend(said)
        return announced

    # -- reads -------------------------------------------------------------------------

    def get(self, number: str) -> Case:
        with self.db.read() as conn:
            row = conn.execute(select(cases).where(cases.c.case_number == number)).first()
        if row is None:
            raise NotFound(f"no case {number} at this node")
        return _case(row._mapping)

    def list(self, query: CaseQuery) -> tuple[list[Case], str]:
        """Cases in case-number order (oldest first), paged; returns (page, next token).
        A department's cases are those it accepted and those it has had a review of.
        `InvalidArgument` lists every field of the query that cannot be what it says."""
        query = check_query(query)
        statement = select(cases)
        if query.applicant_id_number:
            statement = statement.where(cases.c.id_number == query.applicant_id_number)
        if query.account_id:
            statement = statement.where(cases.c.account_id == query.account_id)
        if query.department_code:
            reviewed = select(case_reviewers.c.case_number).where(
                case_reviewers.c.department_code == query.department_code
            )
            statement = statement.where(
                or_(
                    cases.c.department_code == query.department_code,
                    cases.c.case_number.in_(reviewed),
                )
            )
        if query.status:
            statement = statement.where(cases.c.status == query.status)
        if query.overdue is not None:
            statement = statement.where(cases.c.overdue.is_(query.overdue))
        if query.after:
            statement = statement.where(cases.c.case_number > query.after)
        size = query.page_size or DEFAULT_PAGE
        statement = statement.order_by(cases.c.case_number).limit(size + 1)
        with self.db.read() as conn:
            found = [_case(r._mapping) for r in conn.execute(statement)]
        more = len(found) > size
        found = found[:size]
        return found, (domain.next_page_token(query, found[-1].case_number) if more else "")

    # -- the catalog replica -------------------------------------------------------------

    def apply_item_event(self, event: Event) -> bool:
        """Apply a catalog event once; an older version never overwrites a newer one."""
        return self.apply_item_events([event]) == 1

    def apply_item_events(self, events: Sequence[Event]) -> int:
        """Apply catalog events in order, in one transaction, each once; return how many
        changed the replica."""
        changed = 0
        with self.db.transaction() as tx:
            for event in events:
                if self.db.mark_processed(tx.conn, event.source, event.id, tx.now):
                    changed += self._apply_item(tx, event)
        return changed

    def _apply_item(self, tx: Tx, event: Event) -> bool:
        data = dict(event.data)
        code = data["implementation_code"]
        current = self._item_versions.first(tx.conn, {"code": code})
        if event.type == names.GUIDE_PUBLISHED:
            if current is not None and data["version"] <= current["guide_version"]:
                return False
            required = [m["name"] for m in data["materials"] if m["required"]]
            guide = {
                "guide_version": data["version"],
                "guide_materials": json.dumps(required, ensure_ascii=False),
                "collaborating": json.dumps(data.get("collaborating_departments", [])),
            }
            if current is None:
                # The guide overtook its item: keep it for the item, or the item's cases
                # would miss its materials and its joint review. Intake reads published
                # rows only.
                tx.conn.execute(
                    insert(catalog_items).values(
                        implementation_code=code,
                        version=0,
                        status=AWAITING_ITEM,
                        item="null",
                        **guide,
                    )
                )
            else:
                tx.conn.execute(
                    update(catalog_items)
                    .where(catalog_items.c.implementation_code == code)
                    .values(**guide)
                )
            return True
        if current is not None and data["version"] < current["version"]:
            return False
        if event.type == names.ITEM_REVOKED:
            if current is None:
                # The revocation overtook its item: keep it, or the item's publication
                # (an older version) arriving after it would open intake again.
                tx.conn.execute(
                    insert(catalog_items).values(
                        implementation_code=code,
                        version=data["version"],
                        status="revoked",
                        item="null",
                    )
                )
            else:
                tx.conn.execute(
                    update(catalog_items)
                    .where(catalog_items.c.implementation_code == code)
                    .values(status="revoked", version=data["version"])
                )
            return True
        item = CatalogItem.from_event(data)
        row = {"code": code, "version": item.version, "status": "published"}
        row["item"] = _item_json(item)
        if current is None:
            self._insert_item.run(tx.conn, row)
        else:
            self._update_item.run(tx.conn, row)
        return True

    def known_items(self) -> int:
        """Items the replica has learned (published or revoked since): not the rows that
        keep a guide or a revocation for an item that has not arrived."""
        with self.db.read() as conn:
            return len(
                conn.execute(
                    select(catalog_items.c.implementation_code).where(
                        catalog_items.c.item != "null"
                    )
                ).all()
            )

    # -- helpers -------------------------------------------------------------------------

    def _item(self, conn: Connection, code: str) -> CatalogItem | None:
        row = self._published_item.first(conn, {"code": code})
        if row is None:
            return None
        item = _catalog_item(json.loads(row["item"]))
        if row["guide_materials"] is not None:  # the guide, if any, says what is required
            item = dataclasses.replace(
                item, required_materials=tuple(json.loads(row["guide_materials"]))
            )
        if row["collaborating"]:
            item = dataclasses.replace(
                item, collaborating_departments=tuple(json.loads(row["collaborating"]))
            )
        return item

    def _by_request(self, conn: Connection, request_id: str) -> Case | None:
        row = self._case_by_request.first(conn, {"id": request_id})
        return _case(row) if row else None

    def _locked(self, conn: Connection, number: str) -> Case:
        row = self._case_locked.first(conn, {"number": number.strip()})
        if row is None:
            raise NotFound(f"no case {number} at this node")
        return _case(row)

    def _save(self, tx: Tx, transition: Transition) -> None:
        case = transition.case
        values = _row(case)
        values["number"] = values.pop("case_number")
        self._update_case.run(tx.conn, values)
        if transition.event_type == names.APPLICATION_REVIEW_ASSIGNED:
            for code in transition.data["reviewers"]:  # the departments it adds
                self._add_reviewer.run(tx.conn, {"department": code, "number": case.case_number})
        tx.emit(transition.event_type, transition.data, subject=case.case_number)

    def _index_reviewers(self) -> None:
        """Fill `case_reviewers` from the cases, once per store: a node whose cases were
        reviewed before the table existed. A counter marks it done, so a start afterwards
        costs one look (and never scans the cases again, even where none was reviewed); two
        processes starting together may both fill it, and the second adds nothing."""
        counters = self.db.counters
        with self.db.read() as conn:
            marked = select(counters.c.last).where(counters.c.key == _REVIEWERS_INDEXED)
            if conn.execute(marked).first() is not None:
                return
            # Only a review puts a department code in a case's state.
            reviewed = conn.execute(
                select(cases.c.case_number, cases.c.state).where(
                    cases.c.state.contains('"department_code"')
                )
            ).all()
        with self.db.transaction() as tx:
            for number, state in reviewed:
                for review in json.loads(state).get("reviews", ()):
                    params = {"department": review["department_code"], "number": number}
                    self._add_reviewer.run(tx.conn, params)
            self.db.next_value(tx.conn, _REVIEWERS_INDEXED)

    def _check_calendar(self, case: Case) -> None:
        """Say once per year when a deadline was counted on a calendar that is not official."""
        if case.accepted_at is None or case.legal_due_date is None:
            return
        for year in self.calendar.years_in(local_date(case.accepted_at), case.legal_due_date):
            coverage = self.calendar.coverage(year)
            if coverage == "official" or year in self._calendar_warned:
                continue
            self._calendar_warned.add(year)
            if coverage == WEEKDAYS:
                log.warning(
                    "no holiday calendar for %s: counting Monday to Friday; add the year to "
                    "services/platform/data/holidays.json",
                    year,
                    extra={"year": year},
                )
            elif coverage == PROVISIONAL:
                log.warning(
                    "the %s holiday calendar is provisional (statutory holidays only, no "
                    "make-up working days); replace it with the State Council's notice",
                    year,
                    extra={"year": year},
                )


def rules_from(settings: Settings) -> Rules:
    return Rules(
        warning_days=settings.warning_days,
        warning_share=settings.warning_share,
        evaluate_at_acceptance=settings.evaluate_at_acceptance,
    )


def _same_request(case: Case, submission: Submission) -> bool:
    return (
        case.item.implementation_code == submission.implementation_code
        and case.applicant == submission.applicant
        and case.channel == submission.channel
        and sorted(case.handed_in) == sorted(submission.handed_in)  # a set, in any order
    )


def _item_json(item: CatalogItem) -> str:
    # By hand: dataclasses.asdict deep-copies every value and shows up in profiles.
    return json.dumps(
        {f: getattr(item, f) for f in _ITEM_FIELDS}
        | {
            "required_materials": list(item.required_materials),
            "collaborating_departments": list(item.collaborating_departments),
        },
        ensure_ascii=False,
    )


_ITEM_FIELDS = tuple(f.name for f in dataclasses.fields(CatalogItem))


def _catalog_item(data: dict[str, Any]) -> CatalogItem:
    return CatalogItem(
        **(
            data
            | {
                "required_materials": tuple(data["required_materials"]),
                "collaborating_departments": tuple(data.get("collaborating_departments", ())),
            }
        )
    )


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _row(case: Case) -> dict[str, Any]:
    state = {
        "materials": list(case.materials),
        "intake_materials": None if case.intake_materials is None else list(case.intake_materials),
        "deemed_accepted": case.deemed_accepted,
        "legal_due_date": case.legal_due_date.isoformat() if case.legal_due_date else None,
        "supplement": list(case.supplement),
        "supplement_requested_at": _when(case.supplement_requested_at),
        "reviews": [
            {
                "department_code": r.department_code,
                "assigned_at": r.assigned_at.isoformat(),
                "completed_at": _when(r.completed_at),
                "approved": r.approved,
                "opinion": r.opinion,
                "officer_id": r.officer_id,
            }
            for r in case.reviews
        ],
        "pauses": [
            {
                "kind": p.kind,
                "reason": p.reason,
                "started_at": p.started_at.isoformat(),
                "ended_at": _when(p.ended_at),
                "working_days": p.working_days,
            }
            for p in case.pauses
        ],
        "paused_from": case.paused_from,
        "result_code": case.result_code,
        "reason": case.reason,
        "certificate": case.certificate,
        "evaluation": None
        if case.evaluation is None
        else {
            "level": case.evaluation.level,
            "channel": case.evaluation.channel,
            "comment": case.evaluation.comment,
            "evaluated_at": case.evaluation.evaluated_at.isoformat(),
            "source": case.evaluation.source,
        },
        "officer_id": case.officer_id,
    }
    return {
        "case_number": case.case_number,
        "request_id": case.request_id,
        "implementation_code": case.item.implementation_code,
        "department_code": case.department_code,
        "status": case.status,
        "applicant_kind": case.applicant.kind,
        "applicant_name": case.applicant.name,
        "id_number": case.applicant.id_number,
        "phone": case.applicant.phone,
        "account_id": case.applicant.account_id,
        "channel": case.channel,
        "submitted_at": case.submitted_at,
        "accepted_at": case.accepted_at,
        "due_date": case.due_date,
        "closed_at": case.closed_at,
        "warned": case.warned,
        "overdue": case.overdue,
        "item": _item_json(case.item),
        "state": json.dumps(state, ensure_ascii=False),
    }


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite keeps no zone


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _case(row: RowMapping | Any) -> Case:
    state = json.loads(row["state"])
    evaluation = state.get("evaluation")
    return Case(
        case_number=row["case_number"],
        request_id=row["request_id"],
        item=_catalog_item(json.loads(row["item"])),
        applicant=Applicant(
            kind=row["applicant_kind"],
            name=row["applicant_name"],
            id_number=row["id_number"],
            phone=row["phone"],
            account_id=row["account_id"],
        ),
        channel=row["channel"],
        status=row["status"],
        submitted_at=_utc(row["submitted_at"]),  # type: ignore[arg-type]
        materials=tuple(state["materials"]),
        department_code=row["department_code"],
        accepted_at=_utc(row["accepted_at"]),
        deemed_accepted=state.get("deemed_accepted", False),
        due_date=row["due_date"],
        legal_due_date=date.fromisoformat(state["legal_due_date"])
        if state.get("legal_due_date")
        else None,
        supplement=tuple(state.get("supplement", ())),
        supplement_requested_at=_parse(state.get("supplement_requested_at")),
        reviews=tuple(
            Review(
                r["department_code"],
                datetime.fromisoformat(r["assigned_at"]),
                _parse(r["completed_at"]),
                r["approved"],
                r["opinion"],
                r["officer_id"],
            )
            for r in state.get("reviews", ())
        ),
        pauses=tuple(
            Pause(
                p["kind"],
                p["reason"],
                datetime.fromisoformat(p["started_at"]),
                _parse(p["ended_at"]),
                p["working_days"],
            )
            for p in state.get("pauses", ())
        ),
        paused_from=state.get("paused_from", ""),
        # Cases withdrawn before withdrawal gave them their result code have none stored.
        result_code=domain.WITHDRAWN_RESULT
        if row["status"] == "withdrawn"
        else state.get("result_code"),
        reason=state.get("reason", ""),
        certificate=state.get("certificate", ""),
        closed_at=_utc(row["closed_at"]),
        warned=row["warned"],
        overdue=row["overdue"],
        evaluation=None
        if evaluation is None
        else Evaluation(
            evaluation["level"],
            evaluation["channel"],
            evaluation["comment"],
            datetime.fromisoformat(evaluation["evaluated_at"]),
            evaluation.get("source", "api"),
        ),
        officer_id=state.get("officer_id", ""),
        intake_materials=None
        if state.get("intake_materials") is None
        else tuple(state["intake_materials"]),
    )
