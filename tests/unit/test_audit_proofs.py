"""`govnet audit proof` trusts no node: a proof is only "verified" when it proves what the
auditor asked for — that entry, that event, against that checkpoint — not merely something
that is in the log."""

from __future__ import annotations

import json
from typing import Any

import pytest

from govnet.audit.v1 import audit_pb2 as pb
from services.audit.client import AuditClientError, prove_consistency, prove_inclusion
from services.audit.merkle import consistency_proof, inclusion_proof
from tests.support.audit_logs import ORIGIN, Log, audit_signer, build_log, synthetic_events

SIZES = (4, 8, 10)


@pytest.fixture(scope="module")
def log() -> Log:
    return build_log(synthetic_events(10), SIZES)


def checkpoint(log: Log, size: int) -> pb.Checkpoint:
    return pb.Checkpoint(
        origin=ORIGIN,
        size=size,
        root=log.root(size),
        note=log.notes[size],
        verifier_key=str(audit_signer().verifier),
    )


class Node:
    """A node that answers every proof request with a valid proof, of entry `entry` against
    the checkpoint of `size` — whatever it was asked."""

    def __init__(self, log: Log, *, entry: int, size: int) -> None:
        self.log, self.entry, self.size = log, entry, size

    def GetInclusionProof(self, request: Any, timeout: float) -> pb.InclusionProof:  # noqa: N802
        log, entry, size = self.log, self.entry, self.size
        return pb.InclusionProof(
            log_index=entry,
            tree_size=size,
            leaf_hash=log.leaves[entry - 1],
            hashes=inclusion_proof(log.node, entry - 1, size),
            event=log.events[entry - 1],
            checkpoint=checkpoint(log, size),
        )

    def GetConsistencyProof(  # noqa: N802
        self, request: Any, timeout: float
    ) -> pb.ConsistencyProof:
        return pb.ConsistencyProof(
            first=request.first,
            second=self.size,
            hashes=consistency_proof(self.log.node, request.first, self.size),
            checkpoint=checkpoint(self.log, self.size),
        )

    def GetCheckpoint(self, request: Any, timeout: float = 0) -> pb.Checkpoint:  # noqa: N802
        return checkpoint(self.log, request.size)


def by_event(log: Log, entry: int) -> pb.GetInclusionProofRequest:
    event = json.loads(log.events[entry - 1])
    return pb.GetInclusionProofRequest(source=event["source"], id=event["id"])


PINNED = str(audit_signer().verifier)


def test_an_honest_answer_verifies(log: Log) -> None:
    node = Node(log, entry=3, size=8)

    assert prove_inclusion(node, pb.GetInclusionProofRequest(log_index=3), PINNED).pinned
    assert prove_inclusion(node, by_event(log, 3), PINNED).proof.log_index == 3
    assert prove_inclusion(node, pb.GetInclusionProofRequest(log_index=3, tree_size=8), PINNED)
    assert prove_consistency(node, first=8, second=0, pinned_key=PINNED, held=None)


def test_a_proof_of_another_entry_is_refused(log: Log) -> None:
    node = Node(log, entry=5, size=10)

    with pytest.raises(AuditClientError) as refused:
        prove_inclusion(node, pb.GetInclusionProofRequest(log_index=3), PINNED)

    assert str(refused.value) == "asked for entry 3, the node proved entry 5"


def test_a_proof_of_another_event_is_refused(log: Log) -> None:
    node = Node(log, entry=5, size=10)
    asked, given = json.loads(log.events[2]), json.loads(log.events[4])

    with pytest.raises(AuditClientError) as refused:
        prove_inclusion(node, by_event(log, 3), PINNED)

    assert str(refused.value) == (
        f"asked for event {asked['id']} of {asked['source']}, the node proved entry 5: "
        f"event {given['id']} of {given['source']}"
    )


def test_a_proof_against_another_checkpoint_than_the_one_asked_for_is_refused(log: Log) -> None:
    node = Node(log, entry=3, size=10)

    with pytest.raises(AuditClientError) as refused:
        prove_inclusion(node, pb.GetInclusionProofRequest(log_index=3, tree_size=8), PINNED)

    assert str(refused.value) == (
        "asked for the checkpoint of size 8, the node answered with the one of size 10"
    )


def test_a_consistency_proof_to_another_checkpoint_than_the_one_asked_for_is_refused(
    log: Log,
) -> None:
    node = Node(log, entry=3, size=10)

    with pytest.raises(AuditClientError) as refused:
        prove_consistency(node, first=4, second=8, pinned_key=PINNED, held=None)

    assert str(refused.value) == (
        "asked for the checkpoint of size 8, the node answered with the one of size 10"
    )
