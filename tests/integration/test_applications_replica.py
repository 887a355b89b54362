"""The applications service's replica of catalog items, on SQLite and PostgreSQL: it follows
published, revised and revoked items and their guides, and intake reads it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.applications.domain import Applicant, Submission
from services.applications.store import ApplicationsStore
from services.catalog.domain import Guide, GuideMaterial
from services.catalog.sample import sample_items
from services.contract import names
from services.contract.envelope import Event, Source, new_event
from services.contract.identifiers import resident_check_char
from services.contract.schemas import default_registry
from services.platform.errors import InvalidArgument
from services.platform.node import division
from services.platform.store import Database

NOW = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
ITEM = sample_items(division("320102"))[0]  # 食品经营许可 at 玄武区
PARTNER = sample_items(division("320102"))[2].department_code  # 玄武区住房和城乡建设局
RESIDENT = "32010219900307123" + resident_check_char("32010219900307123")


def catalog_event(event_type: str, data: dict[str, Any], sequence: int) -> Event:
    return new_event(
        default_registry(),
        event_type,
        data,
        source=Source.for_service("320102", "catalog"),
        now=NOW,
    ).with_sequence(sequence)


def submission(materials: tuple[str, ...]) -> Submission:
    return Submission(
        request_id=f"r-{len(materials)}-{'-'.join(materials)}",
        implementation_code=ITEM.implementation_code,
        applicant=Applicant("natural", "王五", RESIDENT),
        channel="web",
        materials=materials,
    )


def revocation(*, version: int) -> dict[str, Any]:
    """The data of an `item.revoked` for ITEM at `version`."""
    return {
        "basic_code": ITEM.basic_code,
        "implementation_code": ITEM.implementation_code,
        "name": ITEM.name,
        "level": "county",
        "department": {"code": ITEM.department_code, "name": ITEM.department_name},
        "version": version,
        "reason": "事项取消",
        "standard_revoked": False,
    }


class ReplicaSuite:
    @pytest.fixture
    def store(self, url: str) -> Iterator[ApplicationsStore]:
        db = Database(
            url,
            service="applications",
            division="320102",
            registry=default_registry(),
            clock=lambda: NOW,
        )
        yield ApplicationsStore(db)
        db.dispose()

    def test_intake_follows_published_revised_and_revoked_items(
        self, store: ApplicationsStore
    ) -> None:
        required = tuple(m.name for m in ITEM.materials if m.required)
        with pytest.raises(InvalidArgument, match="is not an item published at this node"):
            store.submit(submission(required))
        assert store.apply_item_event(catalog_event(names.ITEM_PUBLISHED, ITEM.event_data(), 1))
        case, created = store.submit(submission(required))
        assert (created, case.item.name, case.item.promised_limit_days) == (
            True,
            "食品经营许可",
            10,
        )

        revised = replace(ITEM, version=2, promised_limit_days=7)
        data = revised.event_data() | {"changed_fields": ["promised_limit_days"], "reason": ""}
        assert store.apply_item_event(catalog_event(names.ITEM_REVISED, data, 2))
        case, _ = store.submit(replace(submission(required), request_id="after-revision"))
        assert case.item.promised_limit_days == 7

        revoked = revocation(version=3)
        assert store.apply_item_event(catalog_event(names.ITEM_REVOKED, revoked, 3))
        with pytest.raises(InvalidArgument, match="is not an item published at this node"):
            store.submit(replace(submission(required), request_id="after-revocation"))

    def test_an_older_version_arriving_late_is_ignored(self, store: ApplicationsStore) -> None:
        newer = replace(ITEM, version=3, promised_limit_days=5)
        store.apply_item_event(
            catalog_event(
                names.ITEM_REVISED, newer.event_data() | {"changed_fields": [], "reason": ""}, 2
            )
        )
        assert not store.apply_item_event(catalog_event(names.ITEM_PUBLISHED, ITEM.event_data(), 1))
        case, _ = store.submit(submission(tuple(m.name for m in ITEM.materials if m.required)))
        assert case.item.promised_limit_days == 5

    def test_a_guide_decides_which_materials_intake_requires(
        self, store: ApplicationsStore
    ) -> None:
        store.apply_item_event(catalog_event(names.ITEM_PUBLISHED, ITEM.event_data(), 1))
        guide = Guide(
            ITEM.implementation_code,
            materials=(
                GuideMaterial("食品经营许可申请书"),
                GuideMaterial("健康证明", required=True),
                GuideMaterial("其他说明材料", required=False),
            ),
        )
        assert store.apply_item_event(
            catalog_event(names.GUIDE_PUBLISHED, guide.event_data(ITEM), 2)
        )
        with pytest.raises(InvalidArgument) as info:
            store.submit(submission(("食品经营许可申请书",)))
        assert [(v.field, v.reason) for v in info.value.violations] == [
            ("materials", "missing required materials: 健康证明")
        ]
        case, _ = store.submit(submission(("食品经营许可申请书", "健康证明")))
        assert case.materials == ("食品经营许可申请书", "健康证明")

    def test_a_guide_that_overtakes_its_item_is_kept_for_it(self, store: ApplicationsStore) -> None:
        guide = Guide(
            ITEM.implementation_code,
            materials=(GuideMaterial("食品经营许可申请书"), GuideMaterial("健康证明")),
            collaborating_departments=(PARTNER,),
        )
        assert store.apply_item_event(
            catalog_event(names.GUIDE_PUBLISHED, guide.event_data(ITEM), 2)
        )
        assert store.known_items() == 0
        with pytest.raises(InvalidArgument, match="is not an item published at this node"):
            store.submit(submission(("食品经营许可申请书", "健康证明")))
        assert store.apply_item_event(catalog_event(names.ITEM_PUBLISHED, ITEM.event_data(), 1))
        assert store.known_items() == 1
        with pytest.raises(InvalidArgument) as info:
            store.submit(submission(("食品经营许可申请书",)))
        assert [(v.field, v.reason) for v in info.value.violations] == [
            ("materials", "missing required materials: 健康证明")
        ]
        case, _ = store.submit(submission(("食品经营许可申请书", "健康证明")))
        assert case.item.collaborating_departments == (PARTNER,)

    def test_a_revocation_that_overtakes_its_item_keeps_the_item_out_of_intake(
        self, store: ApplicationsStore
    ) -> None:
        revoked = revocation(version=ITEM.version + 1)
        assert store.apply_item_event(catalog_event(names.ITEM_REVOKED, revoked, 2))
        # The publication it revoked arrives after it: an older version, so it changes nothing.
        assert not store.apply_item_event(catalog_event(names.ITEM_PUBLISHED, ITEM.event_data(), 1))
        with pytest.raises(InvalidArgument, match="is not an item published at this node"):
            store.submit(submission(tuple(m.name for m in ITEM.materials if m.required)))
        assert store.known_items() == 0

    def test_each_catalog_event_is_applied_once(self, store: ApplicationsStore) -> None:
        event = catalog_event(names.ITEM_PUBLISHED, ITEM.event_data(), 1)
        assert store.apply_item_event(event)
        assert not store.apply_item_event(event)


class TestSqliteReplica(ReplicaSuite):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/applications.db"


@pytest.mark.postgres
class TestPostgresReplica(ReplicaSuite):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url
