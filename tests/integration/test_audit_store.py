"""The audit log's store on SQLite and on PostgreSQL: append-once, gap-free indexes, the
Merkle tree kept in step, signed checkpoints through the outbox, proofs, and replay."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.audit.domain import ReplayFilter
from services.audit.merkle import leaf_hash, root, tree_nodes, verify_consistency, verify_inclusion
from services.audit.notes import open_note
from services.audit.store import AuditStore
from services.audit.store import tree_nodes as stored_nodes
from services.contract import names
from services.contract.envelope import Event, decode, encode
from services.contract.schemas import default_registry
from services.platform.errors import InvalidArgument, NotFound
from services.platform.settings import Settings
from services.platform.store import Database
from tests.support.audit_logs import audit_signer, synthetic_events

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def events(count: int) -> list[Event]:
    registry = default_registry()
    return [decode(raw, registry) for raw in synthetic_events(count)]


class AuditStoreSuite:
    """Subclasses provide `url`."""

    @pytest.fixture
    def db(self, url: str) -> Iterator[Database]:
        database = Database(
            url, service="audit", division="320000", registry=default_registry(), clock=lambda: NOW
        )
        database.create_schema()
        yield database
        database.dispose()

    @pytest.fixture
    def store(self, db: Database) -> AuditStore:
        settings = Settings.from_environment({"GOVNET_CHECKPOINT_EVERY": "100"})
        return AuditStore(db, settings=settings, signer=audit_signer())

    def leaves(self, store: AuditStore) -> list[bytes]:
        return [e.leaf_hash for e in store.events(page_size=1000)]

    def test_events_get_indexes_one_two_three_and_duplicates_none(self, store: AuditStore) -> None:
        batch = events(5)

        first = store.record_many([*batch[:3], batch[0]])  # a duplicate inside the batch
        second = store.record_many([batch[1], *batch[3:]])  # and one already in the log

        assert first == [1, 2, 3, None]
        assert second == [None, 4, 5]
        stored = store.events(page_size=10)
        assert [e.log_index for e in stored] == [1, 2, 3, 4, 5]
        assert [e.event_id for e in stored] == [e.id for e in batch]
        assert [e.canonical for e in stored] == [encode(e) for e in batch]
        assert all(e.leaf_hash == leaf_hash(e.canonical) for e in stored)

    def test_a_redelivery_late_in_a_batch_leaves_no_trace_of_the_first_try(
        self, store: AuditStore
    ) -> None:
        # 15 entries, then 20 events whose last is already logged: the first try of the
        # batch (SQLite inserts before looking) would complete the 16-leaf subtree and then
        # meet the duplicate; what it wrote must go, and the retry write it once.
        batch = events(35)
        store.record_many(batch[:15])

        indexes = store.record_many([*batch[15:34], batch[3]])

        assert indexes == [*range(16, 35), None]
        leaves = self.leaves(store)
        assert leaves == [leaf_hash(encode(e)) for e in batch[:34]]
        nodes = tree_nodes(leaves)
        assert verify_consistency(
            16,
            34,
            root(lambda level, index: nodes[(level, index)], 16),
            root(lambda level, index: nodes[(level, index)], 34),
            store.consistency_proof(16, 34),
        )
        assert store.record_many([batch[34]]) == [35]

    def test_a_refused_row_that_is_no_redelivery_fails_the_batch_and_changes_nothing(
        self, store: AuditStore
    ) -> None:
        # A stray tree node (a hand repair gone wrong) where the batch completes a subtree:
        # the append fails with the database's error, the log and its tree stay as they were.
        batch = events(17)
        store.record_many(batch[:15])
        with store.db.transaction() as tx:
            tx.conn.execute(stored_nodes.insert().values(level=4, idx=0, hash=b"\0" * 32))

        with pytest.raises(IntegrityError, match="tree_nodes"):
            store.record_many(batch[15:17])

        assert store.size() == 15
        with store.db.transaction() as tx:
            tx.conn.execute(stored_nodes.delete().where(stored_nodes.c.level == 4))
        assert store.record_many([batch[15], batch[3], batch[16]]) == [16, None, 17]
        assert self.leaves(store) == [leaf_hash(encode(e)) for e in batch]

    def test_the_stored_tree_gives_the_rfc_6962_root_and_proofs_that_verify(
        self, store: AuditStore
    ) -> None:
        batch = events(300)
        for start in range(0, 300, 37):  # batches of odd sizes
            store.record_many(batch[start : start + 37])
        leaves = self.leaves(store)
        nodes = tree_nodes(leaves)

        def node(level: int, index: int) -> bytes:
            return nodes[(level, index)]

        rng = random.Random(6962)
        for _ in range(20):
            size = rng.randrange(1, 301)
            index = rng.randrange(1, size + 1)
            proof = store.inclusion_proof(index, size)
            assert verify_inclusion(leaves[index - 1], index - 1, size, proof, root(node, size))
            first = rng.randrange(1, size + 1)
            proof = store.consistency_proof(first, size)
            assert verify_consistency(first, size, root(node, first), root(node, size), proof)

    def test_a_checkpoint_is_signed_every_n_entries_in_the_same_transaction(
        self, store: AuditStore, db: Database
    ) -> None:
        store.record_many(events(99))
        with pytest.raises(NotFound, match="no checkpoint has been signed yet"):
            store.checkpoint()

        store.record_many(events(101)[99:])  # the batch that passes 100 ends at 101

        signed = store.checkpoint()
        assert signed.size == 101
        nodes = tree_nodes(self.leaves(store))
        opened = open_note(signed.note, audit_signer().verifier)
        assert opened.checkpoint.root == root(lambda level, i: nodes[(level, i)], 101)
        [emitted] = self.outbox(db)
        assert emitted.type == names.CHECKPOINT_SIGNED
        assert emitted.subject == "govnet/320000/audit"
        assert (emitted.data["size"], emitted.data["note"]) == (101, signed.note)
        assert emitted.data["key"] == str(audit_signer().verifier)

    def test_a_timer_checkpoint_is_signed_only_when_the_log_grew_by_more_than_its_own(
        self, store: AuditStore
    ) -> None:
        assert store.checkpoint_if_grown() is None  # an empty log
        store.record_many(events(10))

        signed = store.checkpoint_if_grown()
        assert signed is not None
        assert signed.size == 10
        # The checkpoint's own event comes back to the log …
        own = decode(encode(self.outbox(store.db)[0]), default_registry())
        store.record_many([own])
        # … and is not a reason to sign again.
        assert store.checkpoint_if_grown() is None
        store.record_many(events(12)[10:])
        assert store.checkpoint_if_grown().size == 13  # type: ignore[union-attr]

    def test_a_second_writer_reloads_the_tree_instead_of_forking_it(
        self, store: AuditStore, db: Database
    ) -> None:
        other = AuditStore(db)
        batch = events(30)
        store.record_many(batch[:10])
        other.record_many(batch[10:20])
        store.record_many(batch[20:])

        assert [e.log_index for e in store.events(page_size=100)] == list(range(1, 31))
        leaves = self.leaves(store)
        expected = tree_nodes(leaves)
        assert store.consistency_proof(10, 30) is not None
        proof = store.inclusion_proof(25, 30)
        assert verify_inclusion(
            leaves[24], 24, 30, proof, root(lambda level, i: expected[(level, i)], 30)
        )

    def test_a_replay_scans_in_log_order_with_filters_and_resumes(self, store: AuditStore) -> None:
        batch = events(30)
        store.record_many(batch)
        catalog = "govnet://320000/catalog"

        chunks = list(store.scan(ReplayFilter(source=catalog), chunk_size=4))

        indexes = [i for c in chunks for i in c.indexes]
        assert indexes == list(range(2, 31, 3))
        assert [c.scanned_to for c in chunks] == [11, 23, 30]
        resumed = [
            i for c in store.scan(ReplayFilter(source=catalog), after_index=11) for i in c.indexes
        ]
        assert resumed == indexes[4:]
        until = [i for c in store.scan(ReplayFilter(), until_index=5) for i in c.indexes]
        assert until == [1, 2, 3, 4, 5]

    def test_a_replay_filters_by_division_prefix_type_prefix_subject_and_time(
        self, store: AuditStore
    ) -> None:
        batch = events(6)
        store.record_many(batch)

        def matching(where: ReplayFilter) -> list[int]:
            return [i for c in store.scan(where) for i in c.indexes]

        assert matching(ReplayFilter.parse(division="320000")) == [1, 2, 3, 4, 5, 6]
        assert matching(ReplayFilter.parse(division="320100")) == []
        assert matching(ReplayFilter.parse(type="application.*")) == [1, 2, 3, 4, 5, 6]
        assert matching(ReplayFilter.parse(type="item.*")) == []
        assert matching(ReplayFilter.parse(subject=batch[3].subject or "")) == [4]
        event_time = batch[0].time
        assert matching(ReplayFilter.parse(time_from=event_time)) == [1, 2, 3, 4, 5, 6]
        assert matching(ReplayFilter.parse(time_to=event_time)) == []
        assert matching(ReplayFilter.parse(time_to=event_time + timedelta(seconds=1))) == [
            1, 2, 3, 4, 5, 6
        ]  # fmt: skip

    def test_proofs_beyond_the_log_are_refused_naming_the_field(self, store: AuditStore) -> None:
        store.record_many(events(5))

        with pytest.raises(InvalidArgument, match="tree_size: is 6, but the log has 5 entries"):
            store.inclusion_proof(1, 6)
        with pytest.raises(InvalidArgument, match="log_index: must be between 1 and the tree"):
            store.inclusion_proof(6, 5)
        with pytest.raises(InvalidArgument, match="first: must be between 1 and second"):
            store.consistency_proof(0, 5)

    def outbox(self, db: Database) -> list[Event]:
        with db.read() as conn:
            bodies = conn.execute(select(db.outbox.c.body).order_by(db.outbox.c.id)).scalars()
            return [decode(body, default_registry()) for body in bodies]


class TestSqliteAuditStore(AuditStoreSuite):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/audit.db"


@pytest.mark.postgres
class TestPostgresAuditStore(AuditStoreSuite):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url
