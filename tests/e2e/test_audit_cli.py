"""`govnet audit …` as an auditor runs it against a running audit service: export, verify
(and catch tampering), proofs, checkpoints, replay and the supervision report — and the
clear errors a bad argument gets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from govnet.audit.v1 import audit_pb2 as pb
from govnet.audit.v1 import audit_pb2_grpc as pb_grpc
from services.contract import names
from services.contract.envelope import canonical_json
from services.platform import amqp
from services.platform.settings import Settings
from tests.support.audit_logs import synthetic_events
from tests.support.nodes import node_env, processes
from tests.support.running import govnet
from tests.support.taps import publish_many
from tests.support.waiting import wait_for

COUNT = 300


@pytest.fixture(scope="module")
def env(amqp_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    var = tmp_path_factory.mktemp("var")
    env = node_env(amqp_uri=amqp_uri, var_dir=var, GOVNET_CHECKPOINT_INTERVAL="1")
    with amqp.connect(amqp_uri) as conn:
        amqp.declare_topology(conn, delivery_limit=10)
    with processes([("worker", ["audit"]), ("api", ["audit"])], env, var / "run"):
        yield env


def covered(env: dict[str, str], event: bytes) -> int:
    """Waits until a signed checkpoint covers `event`; returns that checkpoint's size."""
    settings = Settings.from_environment(env)
    subject, event_id = json.loads(event)["subject"], json.loads(event)["id"]
    with grpc.insecure_channel(settings.grpc_address("audit")) as channel:
        audit = pb_grpc.AuditServiceStub(channel)

        def signed() -> int:
            events = audit.ListEvents(pb.ListEventsRequest(subject=subject)).events
            found = [e.log_index for e in events if e.id == event_id]
            try:
                size = audit.GetCheckpoint(pb.GetCheckpointRequest()).size
            except grpc.RpcError:
                return 0
            return size if found and size >= found[0] else 0

        return wait_for(signed, timeout=30, what=f"a checkpoint covering {subject}")


LEVELS = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied", "very_dissatisfied")


def case_events() -> list[tuple[str, bytes]]:
    """What the department then did with the synthetic cases of the applications
    service (its events 101 onwards): acceptances (some deemed), refusals, withdrawals,
    yellow and red cards, conclusions on time and late, and evaluations of every level —
    so that every figure of the report is filled."""
    golden = Path(__file__).resolve().parents[1] / "golden"
    department = "11320102767342276U"  # the synthetic cases were submitted to it
    source = "govnet://320000/applications"
    out: list[tuple[str, bytes]] = []

    def add(kind: str, number: str, **data: object) -> None:
        event = json.loads((golden / f"application.{kind}.v1.json").read_text("utf-8"))
        event["id"] = str(uuid.UUID(int=10**9 + len(out)))
        event["source"], event["division"], event["subject"] = source, "320000", number
        event["sequence"] = COUNT // 3 + len(out) + 1
        event["data"] |= {"case_number": number, **data}
        out.append((f"application.{kind}", canonical_json(event)))

    for n in range(COUNT // 3):
        number = f"320000-20261127-{3 * n + 1:06d}"  # the applications service's cases
        if n % 10 == 0:
            add("refused", number, department=department)
            continue
        if n % 10 == 1:
            add("withdrawn", number, department=department)
            continue
        add("accepted", number, department=department, deemed=n % 7 == 0)
        if n % 3 == 0:
            add("deadline_warning", number, department=department)
        if n % 5 == 0:
            add("overdue", number, department=department)
        if n % 2 == 0:
            add("concluded", number, department=department, on_time=n % 4 == 0)
            if n % 3 != 2:
                level = LEVELS[sum(kind == "application.evaluated" for kind, _ in out) % 5]
                add("evaluated", number, department=department, level=level)
    return out


@pytest.fixture(scope="module")
def checkpoints(env: dict[str, str], amqp_uri: str) -> tuple[int, int]:
    """Two rounds of events, each covered by a checkpoint: (first size, last size). The
    second round also holds what departments did with the cases."""
    events = [(names.APPLICATION_SUBMITTED, e) for e in synthetic_events(COUNT)]
    publish_many(amqp_uri, "applications.events", events[:150])
    first = covered(env, events[149][1])
    later = events[150:] + case_events()
    publish_many(amqp_uri, "applications.events", later)
    return first, covered(env, later[-1][1])


@pytest.fixture(scope="module")
def key(env: dict[str, str]) -> str:
    result = govnet("audit", "key", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def export(
    env: dict[str, str], checkpoints: tuple[int, int], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("export") / "audit.jsonl"
    result = govnet("audit", "export", "--out", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {checkpoints[1]:,} entries and ")
    assert result.stdout.strip().endswith(f"(signed up to {checkpoints[1]:,})")
    return path


def test_the_node_key_is_printed_for_auditors_to_pin(key: str) -> None:
    assert key.startswith("govnet/320000/audit+")
    assert len(key.split("+", 2)[1]) == 8


def test_an_export_verifies_ok_against_the_pinned_key(
    env: dict[str, str], export: Path, key: str, checkpoints: tuple[int, int]
) -> None:
    result = govnet("audit", "verify", str(export), "--key", key, env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    # The three synthetic sources, and audit itself (its checkpoint events).
    assert result.stdout.startswith(f"OK: {checkpoints[1]} entries from 4 sources, ")
    assert result.stdout.strip().endswith(f"signed checkpoints (up to {checkpoints[1]})")


def test_a_tampered_export_fails_naming_the_index(
    env: dict[str, str], export: Path, key: str, tmp_path: Path
) -> None:
    lines = export.read_bytes().splitlines(keepends=True)
    # Entry 43's line: after the header, and after any checkpoint the node signed early
    # (its records come between the entries).
    entries = [n for n, line in enumerate(lines) if n and not line.startswith(b'{"_')]
    at = entries[42]
    assert lines[at].startswith(b'{"data":{"applicant"')
    assert b'"channel":"web"' in lines[at]
    lines[at] = lines[at].replace(b'"channel":"web"', b'"channel":"mobile"')
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(b"".join(lines))

    result = govnet("audit", "verify", str(tampered), "--key", key, "--json", env=env)

    assert result.returncode == 1
    verdict = json.loads(result.stdout)
    assert verdict["ok"] is False
    assert {
        "index": 43,
        "line": at + 1,
        "problem": ("the entry does not hash to the leaf the log recorded: it was changed"),
    } in verdict["problems"]


def test_a_kept_checkpoint_is_checked_against_the_export(
    env: dict[str, str], export: Path, key: str, checkpoints: tuple[int, int], tmp_path: Path
) -> None:
    note = tmp_path / "kept.note"
    saved = govnet(
        "audit", "checkpoint", "--size", str(checkpoints[0]), "--out", str(note), env=env
    )
    assert saved.returncode == 0, saved.stderr

    result = govnet(
        "audit", "verify", str(export), "--key", key, "--checkpoint", str(note), env=env
    )

    assert result.returncode == 0, result.stdout


def test_an_inclusion_proof_is_checked_locally(
    env: dict[str, str], key: str, checkpoints: tuple[int, int]
) -> None:
    event = json.loads(synthetic_events(COUNT)[9])

    by_index = govnet("audit", "proof", "10", "--key", key, env=env)
    by_event = govnet("audit", "proof", "--event", event["source"], event["id"], "--json", env=env)

    assert by_index.returncode == 0, by_index.stderr
    assert by_index.stdout.startswith(
        f"verified: entry 10 (application.submitted {event['id']} of {event['source']}) is in "
        f"the log of govnet/320000/audit at size {checkpoints[1]}"
    )
    proof = json.loads(by_event.stdout)
    assert (proof["log_index"], proof["tree_size"], proof["verified"]) == (10, checkpoints[1], True)


def test_a_consistency_proof_is_checked_against_a_kept_checkpoint(
    env: dict[str, str], key: str, checkpoints: tuple[int, int], tmp_path: Path
) -> None:
    first, last = checkpoints
    note = tmp_path / "kept.note"
    govnet("audit", "checkpoint", "--size", str(first), "--out", str(note), env=env)

    result = govnet(
        "audit", "proof", "--consistency", str(first), "--held", str(note), "--key", key, env=env
    )

    assert result.returncode == 0, result.stderr
    assert f"verified: the log of {last} entries" in result.stdout
    assert f"extends the tree of {first} entries (your copy of that checkpoint)" in result.stdout


def test_a_replay_writes_json_lines_and_says_how_to_resume(
    env: dict[str, str], checkpoints: tuple[int, int], tmp_path: Path
) -> None:
    out = tmp_path / "replay.jsonl"
    until = checkpoints[1]

    result = govnet(
        "audit", "replay", "--type", "application.*", "--source", "govnet://320000/catalog",
        "--until", str(until), "--out", str(out), env=env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert out.read_bytes().splitlines() == synthetic_events(COUNT)[1::3]
    assert result.stderr.strip().splitlines()[-1] == (
        f"replayed 100 events; to continue later: --after {until}"
    )


def test_the_report_is_the_same_from_the_node_and_from_the_export(
    env: dict[str, str], export: Path
) -> None:
    live = govnet("audit", "report", "--format", "json", "--division", "320000", env=env)
    offline = govnet("audit", "report", "--from", str(export), "--format", "json", env=env)

    assert live.returncode == 0, live.stderr
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout)["totals"]["received"] == COUNT
    live_report, offline_report = json.loads(live.stdout), json.loads(offline.stdout)
    # The node's log also holds its checkpoint events: only the case figures must agree.
    for part in ("totals", "departments", "divisions"):
        assert live_report[part] == offline_report[part]


@pytest.mark.parametrize("output_format", ["text", "json", "html"])
def test_the_same_log_gives_the_same_report_byte_for_byte_in_every_run(
    env: dict[str, str],
    export: Path,
    checkpoints: tuple[int, int],
    tmp_path: Path,
    output_format: str,
) -> None:
    # Four separate runs, each with its own hash seed: two over the export, two over the
    # node's log up to the export's last entry (the node's log has grown since).
    runs = {
        "export-1": ("--from", str(export)),
        "export-2": ("--from", str(export)),
        "node-1": ("--until", str(checkpoints[1])),
        "node-2": ("--until", str(checkpoints[1])),
    }
    printed, written = {}, {}
    for seed, (name, source) in enumerate(runs.items(), 1):
        run_env = env | {"PYTHONHASHSEED": str(seed)}
        out = tmp_path / f"{name}.{output_format}"
        shown = govnet("audit", "report", *source, "--format", output_format, env=run_env)
        saved = govnet(
            "audit", "report", *source, "--format", output_format, "--out", str(out),
            env=run_env,
        )  # fmt: skip
        assert (shown.returncode, saved.returncode) == (0, 0), shown.stderr + saved.stderr
        printed[name], written[name] = shown.stdout, out.read_bytes()

    assert len(set(written.values())) == 1, "the reports differ between runs"
    assert len(set(printed.values())) == 1
    assert written["node-1"] == printed["node-1"].encode("utf-8")


def test_the_report_of_the_log_has_every_figure_it_was_given(
    export: Path, env: dict[str, str]
) -> None:
    result = govnet("audit", "report", "--from", str(export), "--format", "json", env=env)

    report = json.loads(result.stdout)
    assert report["log"]["entries"] == report["log"]["last_index"]
    totals = {k: v for k, v in report["totals"].items() if not k.endswith("_rate")}
    assert totals == {
        "received": COUNT,
        "accepted": 80,
        "deemed": 11,
        "refused": 10,
        "concluded": 40,
        "withdrawn": 10,
        "on_time": 20,
        "currently_overdue": 10,
        "yellow": 27,
        "red": 10,
        "evaluations": {
            "very_satisfied": 6,
            "satisfied": 5,
            "basically_satisfied": 5,
            "dissatisfied": 5,
            "very_dissatisfied": 5,
        },
        "evaluated_cases": 26,
        "good": 16,
        "bad": 10,
    }
    assert [(d["code"], d["received"]) for d in report["departments"]] == [
        ("11320102767342276U", COUNT)
    ]


def test_an_html_report_is_written_to_a_file(
    env: dict[str, str], export: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"

    result = govnet(
        "audit", "report", "--from", str(export), "--format", "html", "--out", str(out), env=env
    )

    assert result.returncode == 0, result.stderr
    assert out.read_text("utf-8").startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (
            ("verify", "{export}", "--key", "nonsense"),
            2,
            "govnet: --key: a verifier key is <name>+<8 hex digits>+<base64 key>",
        ),
        (
            ("verify", "{export}", "--checkpoint", "{export}"),
            2,
            "govnet: --checkpoint needs --key: a kept checkpoint is only as good as the key that "
            "checks it",
        ),
        (
            ("replay", "--since", "yesterday"),
            2,
            "govnet: --since: 'yesterday' is not a date (2026-11-27) or an RFC 3339 time",
        ),
        (
            ("replay", "--division", "3201"),
            2,
            "govnet: --division: must be 6 digits, got 4 characters",
        ),
        (
            ("proof",),
            2,
            "govnet: name exactly one of INDEX, --event SOURCE ID or --consistency SIZE",
        ),
        (("proof", "5", "--size", "7"), 1, "govnet: no checkpoint was signed at size 7"),
        (
            ("replay", "--publish", "applications.events"),
            1,
            "govnet: applications.events is one of the node's own exchanges; replay into an "
            "exchange of your own, bound to the queue of the consumer that rebuilds",
        ),
        (
            ("replay", "--since", "2026-12-02", "--before", "2026-12-01"),
            2,
            "govnet: --before: must be later than --since",
        ),
        (
            ("replay", "--type", "Bad Type", "--source", "catalog"),
            2,
            "govnet: --source: must be govnet://<division>/<service> or "
            "govnet://<division>/dept/<USCC>; --type: must be an event type or a prefix like "
            "application.*",
        ),
        (
            ("replay", "--after", "10", "--until", "5"),
            2,
            "govnet: --until: is 5, before --after (10); give a log index from --after on",
        ),
        (
            ("replay", "--out", "{tmp}/replay.jsonl", "--publish", "rebuild.test"),
            2,
            "govnet: --out and --publish: give one (a replay goes to a file or to an exchange)",
        ),
        (
            ("tail", "--type", "Bad Type"),
            2,
            "govnet: --type: must be an event type or a prefix like application.*",
        ),
        (
            ("proof", "--event", "catalog", "0b7d"),
            2,
            "govnet: --event SOURCE: must be govnet://<division>/<service> or "
            "govnet://<division>/dept/<USCC>",
        ),
        (
            ("proof", "5", "--held", "{export}"),
            2,
            "govnet: --held goes with --consistency: it is the earlier checkpoint you kept",
        ),
        (
            ("report", "--from", "{export}", "--address", "127.0.0.1:1"),
            2,
            "govnet: --address and --from: give one (the report comes from the node or a file)",
        ),
        (
            ("report", "--from", "{tmp}/replay.jsonl", "--until", "5"),
            2,
            "govnet: --until: needs an export; the lines of a replay file carry no log index",
        ),
        (
            ("report", "--division", "32"),
            2,
            "govnet: --division: must be 6 digits, got 2 characters",
        ),
        (
            ("export", "--out", "{tmp}/no/such/dir/audit.jsonl"),
            2,
            "govnet: --out: cannot write {tmp}/no/such/dir/audit.jsonl: No such file or directory",
        ),
    ],
)
def test_bad_arguments_get_one_clear_line(
    env: dict[str, str],
    export: Path,
    tmp_path: Path,
    args: tuple[str, ...],
    status: int,
    message: str,
) -> None:
    (tmp_path / "replay.jsonl").write_bytes(synthetic_events(1)[0] + b"\n")

    result = govnet("audit", *(a.format(export=export, tmp=tmp_path) for a in args), env=env)

    assert result.returncode == status, result.stderr
    assert result.stderr.strip().splitlines()[-1] == message.format(tmp=tmp_path)


def test_a_consistency_proof_from_beyond_the_checkpoint_names_the_option(
    env: dict[str, str], checkpoints: tuple[int, int]
) -> None:
    settings = Settings.from_environment(env)
    with grpc.insecure_channel(settings.grpc_address("audit")) as channel:
        latest = pb_grpc.AuditServiceStub(channel).GetCheckpoint(pb.GetCheckpointRequest()).size

    result = govnet("audit", "proof", "--consistency", "999999", env=env)

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"govnet: --consistency: must be between 1 and the checkpoint's size {latest}"
    )


def test_a_node_that_does_not_answer_is_one_line(env: dict[str, str]) -> None:
    result = govnet("audit", "replay", "--address", "127.0.0.1:1", env=env)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "govnet: no govnet API answers at 127.0.0.1:1; start a node with `make run`"
    )
