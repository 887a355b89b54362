"""The case lifecycle through the applications store, on SQLite and PostgreSQL (one suite):
every transition writes its event in the same transaction, listings, supervision, and
evaluations from department systems."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.applications import domain
from services.applications.domain import Actor, Applicant, Submission, Transition
from services.applications.store import ApplicationsStore, CaseQuery, case_reviewers
from services.catalog.domain import Guide, GuideMaterial
from services.catalog.sample import sample_items
from services.contract import names
from services.contract.envelope import Event, Source, decode, new_event
from services.contract.errors import ContractError
from services.contract.identifiers import resident_check_char
from services.contract.schemas import default_registry
from services.platform.calendar import PROVISIONAL, WorkCalendar, YearData, default_calendar
from services.platform.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.platform.node import division
from services.platform.store import Database
from tests.support.events import evaluation

ITEM = sample_items(division("320102"))[0]  # 食品经营许可, promised 10, legal 20 working days
PARTNER = sample_items(division("320102"))[2].department_code  # 玄武区住房和城乡建设局
STRANGER = sample_items(division("320102"))[1].department_code  # 玄武区交通运输局: not on ITEM
IMMEDIATE = sample_items(division("320102"))[4]  # 失业保险金申领: 即办件, 0 working days
OFFICER = Actor(ITEM.department_code, "officer-017", "李科员")
REVIEWER = Actor(PARTNER, "officer-203")
RESIDENT = "32010219900307123" + resident_check_char("32010219900307123")
MONDAY = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Nanjing
ONLY_2026 = WorkCalendar({2026: default_calendar().years[2026]})  # as if 2027 were unpublished
NO_2027_WARNING = (
    "WARNING",
    "no holiday calendar for 2027: counting Monday to Friday; add the year to "
    "services/platform/data/holidays.json",
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def catalog_event(event_type: str, data: dict[str, Any], sequence: int) -> Event:
    return new_event(
        default_registry(),
        event_type,
        data,
        source=Source.for_service("320102", "catalog"),
        now=MONDAY,
    ).with_sequence(sequence)


class LifecycleSuite:
    @pytest.fixture
    def clock(self) -> Clock:
        return Clock(MONDAY)

    @pytest.fixture
    def store(self, url: str, clock: Clock) -> Iterator[ApplicationsStore]:
        db = Database(
            url,
            service="applications",
            division="320102",
            registry=default_registry(),
            clock=clock,
        )
        store = ApplicationsStore(db)
        store.apply_item_event(catalog_event(names.ITEM_PUBLISHED, ITEM.event_data(), 1))
        guide = Guide(
            ITEM.implementation_code,
            materials=(GuideMaterial("食品经营许可申请书"),),
            collaborating_departments=(PARTNER,),
        )
        store.apply_item_event(catalog_event(names.GUIDE_PUBLISHED, guide.event_data(ITEM), 2))
        yield store
        db.dispose()

    def submit(self, store: ApplicationsStore, request_id: str = "r-1", **applicant: str) -> str:
        who = {"kind": "natural", "name": "王五", "id_number": RESIDENT, "account_id": "u-wang"}
        who.update(applicant)
        case, _ = store.submit(
            Submission(
                request_id,
                ITEM.implementation_code,
                Applicant(**who),
                "web",
                ("食品经营许可申请书",),
            )
        )
        return case.case_number

    def concluded(self, store: ApplicationsStore) -> str:
        """A case through its joint review to conclusion (issued): its number."""
        number = self.submit(store)
        store.accept(number, OFFICER)
        store.complete_review(number, REVIEWER, True, "同意")
        store.conclude(number, OFFICER, 0, "", "")
        return number

    def events(self, store: ApplicationsStore) -> list[Event]:
        with store.db.read() as conn:
            bodies = conn.execute(
                select(store.db.outbox.c.body).order_by(store.db.outbox.c.id)
            ).scalars()
            return [decode(b, default_registry()) for b in bodies]

    def test_a_case_from_intake_to_evaluation(self, store: ApplicationsStore, clock: Clock) -> None:
        number = self.submit(store)
        store.request_supplement(number, OFFICER, ["营业执照复印件", "健康证明", "营业执照复印件"])
        clock.advance(days=1)
        store.supplement(number, RESIDENT, ["健康证明", "营业执照复印件"])
        accepted = store.accept(number, OFFICER)  # the guide names PARTNER: its review opens
        store.assign_review(number, OFFICER, [ITEM.department_code])  # and the market's own
        clock.advance(days=3)  # Thursday: an inspection until the next Tuesday
        store.pause(number, OFFICER, "inspection", "现场勘查经营场所")
        clock.advance(days=5)
        resumed = store.resume(number, OFFICER)
        store.complete_review(number, OFFICER, True, "材料齐全")
        store.complete_review(number, REVIEWER, True, "场所符合要求")
        concluded = store.conclude(number, OFFICER, 0, "", "JY23201020123456")
        store.evaluate(number, RESIDENT, "satisfied", "mobile", "办事效率高")

        assert [e.type for e in self.events(store)] == [
            "application.submitted",
            "application.supplement_requested",
            "application.supplemented",
            "application.accepted",
            "application.review_assigned",
            "application.review_assigned",
            "application.clock_paused",
            "application.clock_resumed",
            "application.review_completed",
            "application.review_completed",
            "application.concluded",
            "application.evaluated",
        ]
        assert {e.subject for e in self.events(store)} == {number}
        assert [e.sequence for e in self.events(store)] == list(range(1, 13))
        assert [e.data["reviewers"] for e in self.events(store)[4:6]] == [
            [PARTNER],
            [ITEM.department_code],
        ]
        assert (accepted.status, [r.department_code for r in accepted.open_reviews]) == (
            "in_review",
            [PARTNER],
        )
        # Accepted Tuesday 2026-11-24: 10 working days is 2026-12-08; the inspection took
        # Friday, Monday and Tuesday (3 working days), so the promise moved to 2026-12-11.
        assert resumed.due_date == date(2026, 12, 11)
        assert resumed.legal_due_date == date(2026, 12, 25)
        assert resumed.pauses[0].working_days == 3
        assert (concluded.status, concluded.result_code, concluded.certificate) == (
            "concluded",
            0,
            "JY23201020123456",
        )
        final = store.get(number)
        assert final.evaluation is not None
        assert (final.evaluation.level, final.evaluation.channel) == ("satisfied", "mobile")
        assert final.materials == ("食品经营许可申请书", "健康证明", "营业执照复印件")
        assert [(r.department_code, r.approved) for r in final.reviews] == [
            (PARTNER, True),
            (ITEM.department_code, True),
        ]

    def test_a_case_whose_supplement_never_came_is_returned_and_closed(
        self, store: ApplicationsStore, clock: Clock
    ) -> None:
        number = self.submit(store)
        store.request_supplement(number, OFFICER, ["健康证明"])
        clock.advance(days=30)
        returned = store.conclude(number, OFFICER, 5, "逾期未补正材料", "")
        assert (returned.status, returned.result_code, returned.reason) == (
            "concluded",
            5,
            "逾期未补正材料",
        )
        assert returned.closed_at == clock.now
        assert store.get(number) == returned
        assert [(e.type, e.data.get("result_code")) for e in self.events(store)] == [
            ("application.submitted", None),
            ("application.supplement_requested", None),
            ("application.concluded", 5),
        ]
        assert store.supervise() == []

    def test_a_retried_submit_returns_its_case_after_a_supplement_too(
        self, store: ApplicationsStore, clock: Clock
    ) -> None:
        """The supplement adds to the case's materials, not to what the request handed in."""
        number = self.submit(store)
        store.request_supplement(number, OFFICER, ["健康证明"])
        clock.advance(days=1)
        store.supplement(number, RESIDENT, ["健康证明"])
        assert store.get(number).materials == ("食品经营许可申请书", "健康证明")
        assert self.submit(store) == number
        with pytest.raises(FailedPrecondition) as different:
            self.submit(store, name="王五六")
        assert str(different.value) == (
            f"request_id r-1 was already used for case {number} with different content"
        )
        assert [e.type for e in self.events(store)] == [
            "application.submitted",
            "application.supplement_requested",
            "application.supplemented",
        ]

    def test_a_retry_listing_the_materials_in_another_order_returns_the_same_case(
        self, store: ApplicationsStore
    ) -> None:
        """What was handed in is a set: a client that rebuilds its request from a set may
        list it in another order, and that is still the same application."""

        def submit(*materials: str) -> tuple[str, bool]:
            who = Applicant("natural", "王五", RESIDENT, "", "u-wang")
            case, created = store.submit(
                Submission("r-2", ITEM.implementation_code, who, "web", materials)
            )
            return case.case_number, created

        number, created = submit("食品经营许可申请书", "健康证明")
        assert created
        assert submit("健康证明", "食品经营许可申请书") == (number, False)
        with pytest.raises(FailedPrecondition, match="with different content"):
            submit("食品经营许可申请书")
        assert [e.type for e in self.events(store)] == ["application.submitted"]

    def test_a_transition_and_its_event_commit_together_or_not_at_all(
        self, store: ApplicationsStore
    ) -> None:
        number = self.submit(store)

        def broken(case: Any, now: datetime) -> Transition:
            accepted = domain.accept(case, OFFICER, now, store.calendar)
            return replace(accepted, data={"case_number": "not a case number"})

        with pytest.raises(ContractError):
            store.act(number, broken)
        assert store.get(number).status == "received"
        assert [e.type for e in self.events(store)] == ["application.submitted"]

    def test_a_case_is_changed_by_one_request_at_a_time(self, store: ApplicationsStore) -> None:
        number = self.submit(store)
        outcomes: list[str] = []

        def accept() -> None:
            try:
                store.accept(number, OFFICER)
                outcomes.append("accepted")
            except FailedPrecondition as exc:
                outcomes.append(str(exc))

        threads = [threading.Thread(target=accept) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert (
            sorted(outcomes)
            == ["accepted"]
            + [
                f"case {number} is in_review; it cannot be accepted "
                "(only when received or supplemented)"
            ]
            * 3
        )
        assert [e.type for e in self.events(store)].count("application.accepted") == 1

    def test_only_the_applicant_supplements_withdraws_and_evaluates(
        self, store: ApplicationsStore
    ) -> None:
        number = self.submit(store)
        other = "32010219850101001" + resident_check_char("32010219850101001")
        with pytest.raises(PermissionDenied, match=f"only the applicant of case {number}"):
            store.withdraw(number, other, "不办了")
        assert store.withdraw(number, RESIDENT.lower(), "不办了").status == "withdrawn"

    def test_listings_by_applicant_department_status_and_overdue(
        self, store: ApplicationsStore, clock: Clock
    ) -> None:
        first = self.submit(store, "a")
        second = self.submit(store, "b", account_id="u-li")
        store.accept(first, OFFICER)

        def listed(**query: Any) -> list[str]:
            page, _ = store.list(CaseQuery(**query))
            return [c.case_number for c in page]

        assert listed(applicant_id_number=RESIDENT) == [first, second]
        assert listed(account_id="u-li") == [second]
        assert listed(department_code=ITEM.department_code, status="in_review") == [first]
        assert listed(department_code=PARTNER) == [first]  # it reviews the accepted case
        assert listed(department_code=STRANGER) == []
        clock.advance(days=30)
        store.supervise()
        assert listed(overdue=True) == [first]
        page, token = store.list(CaseQuery(page_size=1))
        assert ([c.case_number for c in page], token != "") == ([first], True)
        assert listed(page_token=token) == [second]

    def test_paging_a_listing_with_the_returned_tokens_yields_every_case_once(
        self, store: ApplicationsStore
    ) -> None:
        numbers = [self.submit(store, f"r-{n}") for n in range(5)]
        for query in (CaseQuery(), CaseQuery(applicant_id_number=RESIDENT, status="received")):
            for size in (1, 2, 4):
                seen, tokens, token = [], [], ""
                while True:
                    page, token = store.list(replace(query, page_size=size, page_token=token))
                    seen += [c.case_number for c in page]
                    if not token:
                        break
                    tokens.append(token)
                assert seen == numbers, (query, size)
                # Opaque: a token is not the case number its page ended with.
                assert not set(tokens) & set(numbers), tokens

    @pytest.mark.parametrize(
        "other",
        [
            CaseQuery(),
            CaseQuery(applicant_id_number=RESIDENT, status="received"),
            CaseQuery(applicant_id_number=RESIDENT, account_id="u-wang"),
            CaseQuery(applicant_id_number=RESIDENT, department_code=ITEM.department_code),
            CaseQuery(applicant_id_number=RESIDENT, overdue=True),
            CaseQuery(account_id="u-wang"),
        ],
    )
    def test_a_listing_page_token_of_another_query_is_refused_naming_it(
        self, store: ApplicationsStore, other: CaseQuery
    ) -> None:
        numbers = [self.submit(store, f"r-{n}") for n in range(3)]
        _, token = store.list(CaseQuery(applicant_id_number=RESIDENT, page_size=1))

        with pytest.raises(InvalidArgument) as info:
            store.list(replace(other, page_token=token))

        assert [(v.field, v.reason) for v in info.value.violations] == [
            (
                "page_token",
                "belongs to another query: send the filters of the query that returned it, "
                "or no page_token for a first page",
            )
        ]
        # It goes on working for its own query, however the ID number is spelled, at any
        # page size.
        query = CaseQuery(applicant_id_number=f" {RESIDENT.lower()} ", page_token=token)
        rest, _ = store.list(query)
        assert [c.case_number for c in rest] == numbers[1:]

    def test_a_garbled_listing_page_token_is_refused_naming_it(
        self, store: ApplicationsStore
    ) -> None:
        first = self.submit(store, "r-1")
        self.submit(store, "r-2")
        _, token = store.list(CaseQuery(page_size=1))
        for garbled in (first, "bogus", token[:-2], token + "AA", "12"):
            with pytest.raises(InvalidArgument) as info:
                store.list(CaseQuery(page_token=garbled))
            assert [(v.field, v.reason) for v in info.value.violations] == [
                (
                    "page_token",
                    "is not a token this API returned (garbled, cut short, or made by an "
                    "earlier version): search again without it",
                )
            ], garbled

    def test_a_department_lists_the_cases_it_accepts_or_reviews(
        self, store: ApplicationsStore
    ) -> None:
        joint, waiting = self.submit(store, "joint"), self.submit(store, "waiting")
        store.accept(joint, OFFICER)  # the guide names PARTNER: its review opens

        def listed(**query: Any) -> list[str]:
            page, _ = store.list(CaseQuery(**query))
            return [c.case_number for c in page]

        assert listed(department_code=PARTNER) == [joint]
        assert listed(department_code=PARTNER.lower(), status="in_review") == [joint]
        assert listed(department_code=PARTNER, status="received") == []
        assert listed(department_code=ITEM.department_code) == [joint, waiting]
        # Its own review, a second round for PARTNER: each case is still listed once.
        store.complete_review(joint, REVIEWER, True, "场所符合要求")
        store.assign_review(joint, OFFICER, [ITEM.department_code, PARTNER])
        assert listed(department_code=ITEM.department_code) == [joint, waiting]
        assert listed(department_code=PARTNER) == [joint]
        store.complete_review(joint, OFFICER, True, "材料齐全")
        store.complete_review(joint, REVIEWER, True, "同意")
        store.conclude(joint, OFFICER, 0, "", "JY23201020123456")
        # A review done is still the department's case: with the status it has now.
        assert listed(department_code=PARTNER, status="concluded") == [joint]
        assert listed(department_code=STRANGER) == []

    def test_reviews_stored_before_the_reviewer_index_existed_are_listed_too(
        self, store: ApplicationsStore
    ) -> None:
        number = self.submit(store)
        store.accept(number, OFFICER)
        with store.db.transaction() as tx:  # as a node stored it before this version
            case_reviewers.drop(tx.conn)
            counters = store.db.counters
            tx.conn.execute(counters.delete().where(counters.c.key.contains("case_reviewers")))
        upgraded = ApplicationsStore(store.db)
        page, _ = upgraded.list(CaseQuery(department_code=PARTNER))
        assert [c.case_number for c in page] == [number]
        with store.db.read() as conn:
            assert conn.execute(select(case_reviewers)).all() == [(PARTNER, number)]
        ApplicationsStore(store.db)  # a second start indexes nothing twice
        with store.db.read() as conn:
            assert conn.execute(select(case_reviewers)).all() == [(PARTNER, number)]

    def test_withdrawing_a_paused_case_ends_its_special_procedure(
        self, store: ApplicationsStore, clock: Clock
    ) -> None:
        number = self.submit(store)
        store.accept(number, OFFICER)  # Monday 2026-11-23: due 2026-12-07, legally 2026-12-21
        clock.advance(days=3)  # Thursday
        paused_at = clock.now
        store.pause(number, OFFICER, "inspection", "现场勘查经营场所")
        clock.advance(days=5)  # the next Tuesday: Friday, Monday and Tuesday were paused
        withdrawn = store.withdraw(number, RESIDENT, "不再经营")
        assert store.get(number) == withdrawn
        assert (withdrawn.status, withdrawn.paused_from, withdrawn.closed_at) == (
            "withdrawn",
            "",
            clock.now,
        )
        assert withdrawn.pauses == (
            domain.Pause("inspection", "现场勘查经营场所", paused_at, clock.now, 3),
        )
        assert (withdrawn.due_date, withdrawn.legal_due_date) == (
            date(2026, 12, 10),
            date(2026, 12, 24),
        )
        last = self.events(store)[-1]
        assert (last.type, last.data) == (
            "application.withdrawn",
            {
                "case_number": number,
                "at": clock.now.isoformat(),
                "department": ITEM.department_code,
                "reason": "不再经营",
            },
        )
        clock.now = datetime(2027, 1, 4, 1, 0, tzinfo=UTC)
        assert store.supervise() == []

    def test_an_immediate_case_gets_no_yellow_warning_only_its_red_card_when_late(
        self, store: ApplicationsStore, clock: Clock
    ) -> None:
        store.apply_item_event(catalog_event(names.ITEM_PUBLISHED, IMMEDIATE.event_data(), 3))
        applicant = Applicant("natural", "王五", RESIDENT)
        case, _ = store.submit(
            Submission(
                "immediate",
                IMMEDIATE.implementation_code,
                applicant,
                "window",
                tuple(m.name for m in IMMEDIATE.materials if m.required),
            )
        )
        officer = Actor(IMMEDIATE.department_code, "officer-088")
        accepted = store.accept(case.case_number, officer)  # Monday 09:00 in Nanjing
        assert accepted.due_date == date(2026, 11, 23)
        assert store.supervise() == []
        clock.advance(hours=14, minutes=59)  # 23:59 in Nanjing, still the due date
        assert store.supervise() == []
        clock.advance(minutes=2)  # Tuesday: late
        announced = store.supervise()
        assert [(t.event_type, t.data["days_over"]) for t in announced] == [
            ("application.overdue", 1)
        ]
        assert store.supervise() == []
        assert [e.type for e in self.events(store)] == [
            "application.submitted",
            "application.accepted",
            "application.overdue",
        ]
        assert (store.get(case.case_number).warned, store.get(case.case_number).overdue) == (
            True,
            True,
        )

    def test_an_officer_acting_after_the_window_finds_the_case_deemed_accepted(
        self, store: ApplicationsStore, clock: Clock
    ) -> None:
        """The law accepts a case nobody decided within 5 working days as of its receipt,
        whether or not supervision's round has come by: an officer cannot refuse it then,
        nor start its clock later by accepting it."""
        refused, accepted, withdrawn = (self.submit(store, f"r-{n}") for n in range(3))
        clock.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # the window ended 2026-11-30
        for number, act in (
            (refused, lambda n: store.refuse(n, OFFICER, "材料不全")),
            (accepted, lambda n: store.accept(n, OFFICER)),
        ):
            with pytest.raises(FailedPrecondition) as late:
                act(number)
            assert str(late.value).startswith(f"case {number} is in_review; it cannot be ")
            assert str(late.value).endswith(
                "(no decision or supplement request was made within 5 working days of receipt, "
                "so the law deems it accepted as of receipt)"
            )
            case = store.get(number)
            assert (case.status, case.deemed_accepted) == ("in_review", True)
            assert case.accepted_at == case.submitted_at
            assert case.due_date == date(2026, 12, 7)  # counted from receipt
        assert store.withdraw(withdrawn, RESIDENT, "不再经营").status == "withdrawn"
        assert [(e.type, e.subject) for e in self.events(store)][3:] == [
            ("application.accepted", refused),
            ("application.review_assigned", refused),
            ("application.accepted", accepted),
            ("application.review_assigned", accepted),
            ("application.accepted", withdrawn),
            ("application.review_assigned", withdrawn),
            ("application.withdrawn", withdrawn),
        ]
        assert store.supervise() == []  # nothing left to deem

    def test_another_department_acting_after_the_window_is_denied_as_before(
        self, store: ApplicationsStore, clock: Clock
    ) -> None:
        number = self.submit(store)
        clock.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # the window ended 2026-11-30
        with pytest.raises(PermissionDenied):
            store.refuse(number, REVIEWER, "材料不全")  # PARTNER's officer, not the accepting one
        assert store.get(number).status == "received"  # supervision's round records it
        assert [t.event_type for t in store.supervise()] == [
            "application.accepted",
            "application.review_assigned",
        ]

    def test_supervision_deems_accepts_warns_and_flags_each_once(
        self, store: ApplicationsStore, clock: Clock
    ) -> None:
        waiting = self.submit(store, "waiting")
        working = self.submit(store, "working")
        store.accept(working, OFFICER)  # Monday 2026-11-23: due 2026-12-07
        clock.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 4 working days left, 60 % used
        assert [(t.event_type, t.case.case_number) for t in store.supervise()] == [
            ("application.accepted", waiting),  # 5 working days passed without a decision
            ("application.review_assigned", waiting),  # PARTNER reviews, as on any acceptance
        ]
        assert [r.department_code for r in store.get(waiting).open_reviews] == [PARTNER]
        assert store.get(waiting).deemed_accepted
        # Deemed accepted as of receipt (2026-11-23, 行政许可法 第三十二条): due 2026-12-07 too.
        assert store.get(waiting).due_date == date(2026, 12, 7)
        clock.now = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)  # 1 working day left
        announced = store.supervise()
        assert [(t.event_type, t.case.case_number) for t in announced] == [
            ("application.deadline_warning", waiting),
            ("application.deadline_warning", working),
        ]
        assert (announced[1].data["days_left"], announced[1].data["share_used"]) == (1, 0.9)
        assert store.supervise() == []
        clock.now = datetime(2026, 12, 9, 1, 0, tzinfo=UTC)  # two working days late
        announced = store.supervise()
        assert [(t.event_type, t.data.get("days_over")) for t in announced] == [
            ("application.overdue", 2),
            ("application.overdue", 2),
        ]
        assert store.supervise() == []
        assert store.get(working).overdue

    def test_a_joint_case_concludes_only_once_every_collaborating_department_reviewed(
        self, store: ApplicationsStore
    ) -> None:
        number = self.submit(store)
        assert store.accept(number, OFFICER).status == "in_review"
        with pytest.raises(FailedPrecondition) as waiting:
            store.conclude(number, OFFICER, 0, "", "JY23201020123456")
        assert str(waiting.value) == f"case {number} still waits for the review of {PARTNER}"
        assert store.complete_review(number, REVIEWER, True, "场所符合要求").status == "reviewed"
        concluded = store.conclude(number, OFFICER, 0, "", "JY23201020123456")
        assert (concluded.status, concluded.result_code) == ("concluded", 0)
        assert [e.type for e in self.events(store)][1:] == [
            "application.accepted",
            "application.review_assigned",
            "application.review_completed",
            "application.concluded",
        ]

    def test_a_deadline_counted_into_a_year_without_holiday_data_logs_one_warning(
        self, store: ApplicationsStore, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        counting = ApplicationsStore(store.db, calendar=ONLY_2026)
        clock.now = datetime(2026, 12, 14, 1, 0, tzinfo=UTC)
        first, second = self.submit(counting, "first"), self.submit(counting, "second")
        with caplog.at_level(logging.WARNING, logger="services.applications.store"):
            # 20 legal working days from Monday 2026-12-14 end in 2027, counted Monday-Friday.
            assert counting.accept(first, OFFICER).legal_due_date == date(2027, 1, 11)
            counting.accept(second, OFFICER)
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [NO_2027_WARNING]
        assert caplog.records[0].year == 2027  # type: ignore[attr-defined]

    def test_a_deadline_counted_on_a_provisional_year_says_so_once(
        self, store: ApplicationsStore, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        provisional = WorkCalendar(
            {2026: ONLY_2026.years[2026], 2027: YearData(frozenset(), frozenset(), PROVISIONAL)}
        )
        counting = ApplicationsStore(store.db, calendar=provisional)
        clock.now = datetime(2026, 12, 14, 1, 0, tzinfo=UTC)
        first, second = self.submit(counting, "first"), self.submit(counting, "second")
        with caplog.at_level(logging.WARNING, logger="services.applications.store"):
            counting.accept(first, OFFICER)
            counting.accept(second, OFFICER)
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
            (
                "WARNING",
                "the 2027 holiday calendar is provisional (statutory holidays only, no make-up "
                "working days); replace it with the State Council's notice",
            )
        ]

    def test_a_deemed_acceptance_by_supervision_logs_the_calendar_warning_too(
        self, store: ApplicationsStore, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        counting = ApplicationsStore(store.db, calendar=ONLY_2026)
        clock.now = datetime(2026, 12, 14, 1, 0, tzinfo=UTC)
        number = self.submit(counting)
        clock.now = datetime(2026, 12, 22, 1, 0, tzinfo=UTC)  # the 5 working days are over
        with caplog.at_level(logging.WARNING, logger="services.applications.store"):
            announced = counting.supervise()
        assert [t.event_type for t in announced] == [
            "application.accepted",
            "application.review_assigned",
        ]
        assert counting.get(number).legal_due_date == date(2027, 1, 11)
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [NO_2027_WARNING]

    def test_an_evaluation_from_a_department_system_is_recorded_once(
        self, store: ApplicationsStore
    ) -> None:
        number = self.concluded(store)
        raw = evaluation(division="320102", department=ITEM.department_code, level="dissatisfied")
        raw["data"]["case_number"] = number
        event = decode(__import__("json").dumps(raw), default_registry())
        assert store.record_evaluation(event)
        assert not store.record_evaluation(event)
        evaluated = [e for e in self.events(store) if e.type == "application.evaluated"]
        assert [(e.data["level"], e.data["bad"], e.data["source"]) for e in evaluated] == [
            ("dissatisfied", True, raw["source"])
        ]

    def test_an_evaluation_naming_its_department_in_lower_case_is_recorded(
        self, store: ApplicationsStore
    ) -> None:
        number = self.concluded(store)
        raw = evaluation(division="320102", department=ITEM.department_code, level="satisfied")
        raw["data"] |= {"case_number": number, "department": ITEM.department_code.lower()}
        event = decode(__import__("json").dumps(raw), default_registry())
        assert store.record_evaluation(event)
        [evaluated] = [e for e in self.events(store) if e.type == "application.evaluated"]
        assert (evaluated.data["level"], evaluated.data["department"]) == (
            "satisfied",
            ITEM.department_code,
        )

    def test_an_evaluation_for_another_departments_case_is_refused(
        self, store: ApplicationsStore
    ) -> None:
        number = self.submit(store)
        raw = evaluation(division="320102", department=PARTNER)
        raw["data"]["case_number"] = number
        event = decode(__import__("json").dumps(raw), default_registry())
        with pytest.raises(FailedPrecondition, match=f"case {number} is handled by"):
            store.record_evaluation(event)
        raw["data"]["case_number"] = "320102-20261123-999999"
        event = decode(__import__("json").dumps(raw | {"id": "x2"}), default_registry())
        with pytest.raises(NotFound, match="no case 320102-20261123-999999 at this node"):
            store.record_evaluation(event)


class TestSqliteLifecycle(LifecycleSuite):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/applications.db"


@pytest.mark.postgres
class TestPostgresLifecycle(LifecycleSuite):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url
