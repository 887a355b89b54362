"""`govnet audit …`: read, replay, export, verify and prove the audit log.

Every command that talks to a node takes `--address` (default: this node's audit API), so
an auditor can run them from elsewhere; `verify` and `report --from` work offline.
Imports happen inside the commands, so that `govnet --help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NoReturn

import click


def _fail(message: str, status: int = 1) -> NoReturn:
    click.echo(f"govnet: {message}", err=True)
    sys.exit(status)


def _settings() -> Any:
    from services.cli import load_settings

    return load_settings()


@contextmanager
def _node(address: str | None, options: Mapping[str, str] | None = None) -> Iterator[Any]:
    """The audit API stub of the node at `address`, with errors turned into messages.

    `options`: the command-line name of each request field this command sets, so that a
    refused argument is named as the auditor typed it (`--size`, not `tree_size`)."""
    import grpc

    from services.audit.client import AuditClientError, stub
    from services.client import _channel, _node_channel

    try:  # a node named by address is whichever answers there; else the one configured
        channel = _channel(address, 5) if address else _node_channel(_settings(), "audit")
    except ConnectionError as exc:
        _fail(str(exc))
    try:
        yield stub(channel)
    except grpc.RpcError as exc:
        code = exc.code()
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            _fail(_invalid_argument(exc, options or {}), 2)
        _fail(exc.details() or str(code))
    except AuditClientError as exc:
        _fail(str(exc))
    finally:
        channel.close()


def _invalid_argument(error: Any, options: Mapping[str, str]) -> str:
    """An INVALID_ARGUMENT answer with each field renamed to its command-line option, in
    the violation's field and wherever its reason mentions another field."""
    import re

    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)
    violations: list[tuple[str, str]] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            found = error_details_pb2.BadRequest()
            detail.Unpack(found)
            violations += [(v.field, v.description) for v in found.field_violations]
    if not violations or not options:
        return str(error.details() or error.code())
    mention = re.compile(r"\b(" + "|".join(map(re.escape, options)) + r")\b")

    def rename(text: str) -> str:
        return mention.sub(lambda m: options[m.group(1)], text)

    return "; ".join(
        f"{options.get(field, field)}: {rename(reason)}" for field, reason in violations
    )


@contextmanager
def _progress(unit: str, description: str) -> Iterator[tuple[Callable[[int], None], Any]]:
    """A progress bar on stderr (on a terminal only): yields (advance, set_total)."""
    from tqdm import tqdm

    with tqdm(desc=description, unit=unit, unit_scale=True, disable=None, file=sys.stderr) as bar:

        def set_total(total: int) -> None:
            bar.total = total
            bar.refresh()

        yield bar.update, set_total


@contextmanager
def _output(path: str | None, *, stdout: bool = False) -> Iterator[IO[bytes]]:
    """The file `--out` names, opened for writing (with `stdout`, none or `-` is standard
    output); one that cannot be written is a one-line error."""
    if stdout and (path is None or path == "-"):
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    assert path is not None
    try:
        handle = open(path, "wb")  # noqa: SIM115 - closed below, after the body ran
    except OSError as exc:
        _fail(f"--out: cannot write {path}: {exc.strerror}", 2)
    with handle:
        yield handle


FILTER_OPTIONS = {
    "division": "--division",
    "source": "--source",
    "type": "--type",
    "subject": "--subject",
    "time_from": "--since",
    "time_to": "--before",
}
"""The command-line option of each replay filter field (and gRPC `ReplayRequest` field)."""


def _filters(
    division: str, source: str, event_type: str, subject: str, since: str, before: str
) -> Any:
    from services.audit.client import AuditClientError, parse_when
    from services.audit.domain import ReplayFilter
    from services.platform.errors import InvalidArgument

    try:
        return ReplayFilter.parse(
            division=division,
            source=source,
            type=event_type,
            subject=subject,
            time_from=parse_when(since, "--since") if since else None,
            time_to=parse_when(before, "--before") if before else None,
            names=FILTER_OPTIONS,
        )
    except AuditClientError as exc:
        _fail(str(exc), 2)
    except InvalidArgument as exc:
        _fail(str(exc), 2)


_address = click.option(
    "--address", default=None, help="host:port of the node's audit API (default: this node's)."
)
_key = click.option(
    "--key",
    "pinned",
    default=None,
    help="The node's verifier key (<name>+<hash>+<key>) to check signatures with; without it "
    "the key the node or file names is used.",
)


def _filter_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option(
                "--division",
                default="",
                help="A division; a city or province code covers the divisions under it.",
            ),
            click.option("--source", default="", help="Only events of this source."),
            click.option(
                "--type",
                "event_type",
                default="",
                help="An event type, or a prefix like application.*",
            ),
            click.option("--subject", default="", help="Only this subject (case number …)."),
            click.option("--since", default="", help="Event time from (date or RFC 3339)."),
            click.option("--before", default="", help="Event time before (date or RFC 3339)."),
        )
    ):
        function = option(function)
    return function


PARALLEL_FROM = 256 << 20
"""Exports from this size up are verified with one process per CPU by default."""


@click.group()
def audit() -> None:
    """The audit log: tail, replay, export, verify, prove, report."""


@audit.command("tail")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events.")
@click.option("--type", "event_type", default="", help="Only this event type.")
@click.option("--subject", default="", help="Only this subject (case number, item code).")
@click.option("--after", default=0, type=click.IntRange(min=0), help="Start after this index.")
@click.option(
    "-n",
    "--lines",
    default=20,
    type=click.IntRange(min=1, max=1000),
    help="Without --after: how many of the newest events to show first.",
)
def audit_tail(event_type: str, subject: str, after: int, lines: int, follow: bool) -> None:
    """Print the newest events of the audit log (and, with -f, new ones as they arrive)."""
    import grpc

    from services.client import tail_audit

    _filters("", "", event_type, subject, "", "")
    try:
        status = tail_audit(
            _settings(),
            event_type=event_type,
            subject=subject,
            after=after,
            lines=lines,
            follow=follow,
            echo=click.echo,
        )
    except ConnectionError as exc:
        _fail(str(exc))
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
            _fail(_invalid_argument(exc, TAIL_OPTIONS), 2)
        _fail(exc.details() or str(exc.code()))
    sys.exit(status)


TAIL_OPTIONS = {"type": "--type", "subject": "--subject", "after_index": "--after"}
REPLAY_OPTIONS = {**FILTER_OPTIONS, "after_index": "--after", "until_index": "--until"}


@audit.command("replay")
@_address
@_filter_options
@click.option("--after", default=0, type=click.IntRange(min=0), help="Resume after this log index.")
@click.option(
    "--until",
    default=0,
    type=click.IntRange(min=0),
    help="Stop at this log index (default: the end as the replay starts).",
)
@click.option(
    "--out",
    "out_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write JSON Lines here (default: standard output).",
)
@click.option(
    "--publish",
    "exchange",
    default=None,
    help="Publish the events to this exchange instead (routing key = type).",
)
def audit_replay(
    address: str | None,
    division: str,
    source: str,
    event_type: str,
    subject: str,
    since: str,
    before: str,
    after: int,
    until: int,
    out_file: str | None,
    exchange: str | None,
) -> None:
    """Stream the log in order: one event per line, each line its canonical bytes (so
    SHA-256(0x00 || line) is its leaf). Resume an interrupted replay with --after."""
    from services.audit.client import replay, replay_request, republish, write_jsonl

    where = _filters(division, source, event_type, subject, since, before)
    if until and until < after:
        _fail(f"--until: is {until}, before --after ({after}); give a log index from --after on", 2)
    if exchange and out_file:
        _fail("--out and --publish: give one (a replay goes to a file or to an exchange)", 2)
    request = replay_request(where, after=after, until=until)
    with (
        _node(address, REPLAY_OPTIONS) as node,
        _progress(" entries", "replaying") as (advance, set_total),
    ):
        chunks = replay(node, request, on_size=set_total)
        if exchange:
            settings = _settings()
            done = republish(
                chunks,
                settings.amqp_uri,
                exchange,
                origin=settings.grpc_address("audit"),
                start=after,
                advance=advance,
            )
            click.echo(
                f"published {done.count:,} events to {exchange} (last log index {done.last_index})",
                err=True,
            )
            return
        with _output(out_file, stdout=True) as out:
            count, last = write_jsonl(chunks, out, start=after, advance=advance)
    click.echo(f"replayed {count:,} events; to continue later: --after {last}", err=True)


@audit.command("export")
@_address
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--all",
    "include_unsigned",
    is_flag=True,
    help="Also the entries after the latest checkpoint (no signature covers them).",
)
def audit_export(address: str | None, out_file: str, include_unsigned: bool) -> None:
    """Write the log, its checkpoints and their consistency proofs to a file that
    `govnet audit verify` checks offline (format: docs/audit.md)."""
    from services.audit.client import export

    with (
        _output(out_file) as out,
        _node(address) as node,
        _progress(" entries", "exporting") as (advance, set_total),
    ):
        done = export(
            node, out, include_unsigned=include_unsigned, on_size=set_total, advance=advance
        )
    click.echo(
        f"wrote {done.entries:,} entries and {done.checkpoints:,} checkpoints to "
        f"{out_file} (signed up to {done.last_checkpoint:,})"
    )


@audit.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_key
@click.option(
    "--checkpoint",
    "held",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A signed checkpoint you kept (a note file); the export must agree. Repeatable.",
)
@click.option(
    "--jobs",
    default=0,
    type=click.IntRange(min=0),
    help="Threads to scan with (processes without the C module; default: one per CPU, "
    "without the C module only for exports of 256 MB or more).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def audit_verify(
    file: str, pinned: str | None, held: tuple[str, ...], jobs: int, as_json: bool
) -> None:
    """Verify an export offline. Prints OK, or each problem with its log index; exit 1 if
    there is any."""
    import json
    import os

    from services.audit.notes import NoteError, VerifierKey, open_note
    from services.audit.verify import COMPILED, verify_export

    key = None
    if pinned:
        try:
            key = VerifierKey.parse(pinned)
        except NoteError as exc:
            _fail(f"--key: {exc}", 2)
    trusted = []
    for note_file in held:
        if key is None:
            _fail(
                "--checkpoint needs --key: a kept checkpoint is only as good as the key "
                "that checks it",
                2,
            )
        try:
            trusted.append(open_note(Path(note_file).read_text("utf-8"), key))
        except (NoteError, UnicodeDecodeError) as exc:
            _fail(f"--checkpoint {note_file}: {exc}", 2)
    path = Path(file)
    size = path.stat().st_size
    if not jobs:  # threads cost nothing to start; processes pay off for big files only
        jobs = (os.cpu_count() or 1) if COMPILED or size >= PARALLEL_FROM else 1
    with _progress("B", f"verifying {path.name}") as (advance, set_total):
        set_total(size)
        result = verify_export(path, key=key, trusted=trusted, jobs=jobs, advance=advance)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "entries": result.entries,
                    "checkpoints": result.checkpoints,
                    "sources": result.sources,
                    "key": result.key,
                    "key_pinned": result.key_pinned,
                    "problems": [
                        {"index": p.index, "line": p.line, "problem": p.message}
                        for p in result.problems
                    ],
                    "notes": result.notes,
                    "refused": [
                        {"source": source, "sequence": sequence, "index": index}
                        for source, sequence, index in result.refused
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        sys.exit(0 if result.ok else 1)
    for problem in result.problems:
        click.echo(str(problem))
    for note in result.notes:
        click.echo(f"note: {note}")
    if not result.key_pinned:
        click.echo(
            "note: signatures checked with the key the file names; pin the node's "
            "key with --key to rule out a substituted key"
        )
    if result.ok:
        click.echo(
            f"OK: {result.entries:,} entries from {result.sources:,} sources, "
            f"{result.checkpoints:,} signed checkpoints (up to {result.last_checkpoint:,})"
        )
        return
    click.echo(f"FAILED: {len(result.problems):,} problems in {result.entries:,} entries")
    sys.exit(1)


@audit.command("proof")
@click.argument("index", required=False, type=click.IntRange(min=1))
@click.option(
    "--event",
    nargs=2,
    default=None,
    metavar="SOURCE ID",
    help="Prove the entry of this event instead of an index.",
)
@click.option(
    "--consistency",
    "first",
    default=None,
    type=click.IntRange(min=1),
    help="Prove that the log extends its earlier tree of this size.",
)
@click.option(
    "--held",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="With --consistency: your own copy of that earlier checkpoint (a note).",
)
@click.option(
    "--size",
    default=0,
    type=click.IntRange(min=0),
    help="Against the checkpoint of this size (default: the latest).",
)
@_key
@_address
@click.option("--json", "as_json", is_flag=True, help="Print the proof as JSON.")
def audit_proof(
    index: int | None,
    event: tuple[str, str] | None,
    first: int | None,
    held: str | None,
    size: int,
    pinned: str | None,
    address: str | None,
    as_json: bool,
) -> None:
    """Prove, and check here, that an entry is in the log (INDEX or --event), or that the
    log only grew since an earlier checkpoint (--consistency)."""
    import json

    from govnet.audit.v1 import audit_pb2 as pb
    from services.audit.client import prove_consistency, prove_inclusion
    from services.contract.envelope import format_time

    chosen = [x for x in (index, event, first) if x]
    if len(chosen) != 1:
        _fail("name exactly one of INDEX, --event SOURCE ID or --consistency SIZE", 2)
    if held and first is None:
        _fail("--held goes with --consistency: it is the earlier checkpoint you kept", 2)
    note = None
    if held:
        try:
            note = Path(held).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"--held {held}: cannot read a signed note from it ({exc})", 2)
    key_note = "" if pinned else " (with the key the node names; pin it with --key)"
    with _node(address, PROOF_OPTIONS) as node:
        if first is not None:
            result = prove_consistency(node, first=first, second=size, pinned_key=pinned, held=note)
            later = result.second.checkpoint
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "first": first,
                            "second": later.size,
                            "proof": [h.hex() for h in result.proof.hashes],
                            "first_root": result.first.checkpoint.root.hex(),
                            "second_root": later.root.hex(),
                            "verified": True,
                        },
                        indent=2,
                    )
                )
                return
            source = "the node's copy" if result.first_from_node else "your copy"
            signed = format_time(later.time)
            click.echo(
                f"verified: the log of {later.size:,} entries (signed {signed}) extends "
                f"the tree of {first:,} entries ({source} of that checkpoint), in "
                f"{len(result.proof.hashes)} hashes{key_note}"
            )
            return
        request = pb.GetInclusionProofRequest(log_index=index or 0, tree_size=size)
        if event:
            request.source, request.id = event
        proved = prove_inclusion(node, request, pinned)
        proof, checkpoint = proved.proof, proved.signed.checkpoint
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "log_index": proof.log_index,
                        "tree_size": proof.tree_size,
                        "leaf_hash": proof.leaf_hash.hex(),
                        "hashes": [h.hex() for h in proof.hashes],
                        "root": checkpoint.root.hex(),
                        "note": proof.checkpoint.note,
                        "event": json.loads(proof.event),
                        "verified": True,
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
            return
        described = json.loads(proof.event)
        click.echo(
            f"verified: entry {proof.log_index} ({described.get('type')} "
            f"{described.get('id')} of {described.get('source')}) is in the log of "
            f"{checkpoint.origin} at size {checkpoint.size:,}, signed "
            f"{format_time(checkpoint.time)}, in {len(proof.hashes)} hashes{key_note}"
        )


PROOF_OPTIONS = {
    "log_index": "INDEX",
    "source": "--event SOURCE",
    "id": "--event ID",
    "tree_size": "--size",
    "first": "--consistency",
    "second": "--size",
}


@audit.command("checkpoint")
@_address
@click.option(
    "--size",
    default=0,
    type=click.IntRange(min=0),
    help="The checkpoint of this size (default: the latest).",
)
@click.option(
    "--out",
    "out_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="Save the signed note to this file (keep it: verify --checkpoint).",
)
def audit_checkpoint(address: str | None, size: int, out_file: str | None) -> None:
    """Print a signed checkpoint (a C2SP signed note) and the key that signed it."""
    from govnet.audit.v1 import audit_pb2 as pb

    with _node(address, {"size": "--size"}) as node:
        checkpoint = node.GetCheckpoint(pb.GetCheckpointRequest(size=size), timeout=10)
    if out_file:
        with _output(out_file) as out:
            out.write(checkpoint.note.encode("utf-8"))
        click.echo(f"saved the checkpoint of size {checkpoint.size:,} to {out_file}")
    else:
        click.echo(checkpoint.note, nl=False)
    click.echo(f"key: {checkpoint.verifier_key}", err=True)


@audit.command("key")
def audit_key() -> None:
    """Print this node's verifier key (give it to auditors to pin)."""
    from services.audit.notes import NoteError, Signer, origin_for

    settings = _settings()
    path = settings.audit_key_path
    if not path.exists():
        _fail(f"no audit key at {path} yet: it is made when the node first starts (make run)")
    try:
        signer = Signer.load_or_create(path, origin_for(settings.division))
    except NoteError as exc:
        _fail(f"GOVNET_AUDIT_KEY_FILE={str(path)!r}: {exc}", 2)
    click.echo(str(signer.verifier))


@audit.command("report")
@_address
@click.option(
    "--from",
    "from_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="Compute from an export or replay file instead of the node.",
)
@click.option("--division", default="", help="Only cases of this division (and below).")
@click.option(
    "--format",
    "output_format",
    default="text",
    type=click.Choice(["text", "json", "html"]),
    show_default=True,
)
@click.option(
    "--until",
    default=0,
    type=click.IntRange(min=0),
    help="Up to this log index (default: the end), e.g. an export's size, to reproduce its "
    "report from the node.",
)
@click.option("--out", "out_file", default=None, type=click.Path(dir_okay=False))
def audit_report(
    address: str | None,
    from_file: str | None,
    division: str,
    output_format: str,
    until: int,
    out_file: str | None,
) -> None:
    """Supervision figures from a replay: per department and division, cases received,
    accepted, refused, concluded, on-time rate, overdue, yellow and red cards, 好差评.
    The same log (up to the same index) always gives the same report, byte for byte."""
    from services.audit import supervision

    where = _filters(division, "", "", "", "", "")
    if from_file and address:
        _fail("--address and --from: give one (the report comes from the node or a file)", 2)
    if from_file:
        with _progress("B", "reading") as (advance, set_total):
            set_total(Path(from_file).stat().st_size)
            events = _events_from_file(Path(from_file), where, advance, until)
            report = supervision.compute(events)
    else:
        from services.audit.client import replay, replay_request

        with (
            _node(address, {**FILTER_OPTIONS, "until_index": "--until"}) as node,
            _progress(" entries", "replaying") as (advance, set_total),
        ):
            chunks = replay(node, replay_request(where, until=until), on_size=set_total)
            report = supervision.compute(_events_from_chunks(chunks, advance))
    render = {
        "text": supervision.render_text,
        "json": supervision.render_json,
        "html": supervision.render_html,
    }[output_format]
    text = render(report)
    if out_file:
        with _output(out_file) as out:
            out.write(text.encode("utf-8"))
        click.echo(f"wrote the {output_format} report to {out_file}")
    else:
        click.echo(text, nl=False)


_WANTED = ("application.", "item.published", "item.revised")


def _events_from_chunks(
    chunks: Iterator[Any], advance: Callable[[int], None]
) -> Iterator[tuple[int | None, dict[str, Any]]]:
    from services.audit.client import events_of

    position = None
    for chunk in chunks:
        for index, event, event_type in zip(
            chunk.log_index, events_of(chunk), chunk.types, strict=True
        ):
            if event_type.startswith(_WANTED):
                yield index, _loads(event)
            else:
                yield index, {}
        if position is not None:
            advance(chunk.scanned_to - position)
        position = chunk.scanned_to


def _loads(line: bytes) -> Any:
    """JSON, by orjson (fast) or, for what it refuses (integers beyond 64 bits), json."""
    import json

    import orjson

    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _events_from_file(
    path: Path, where: Any, advance: Callable[[int], None], until: int = 0
) -> Iterator[tuple[int | None, dict[str, Any]]]:
    """Events of an export (with their log indexes) or of a replay file, in order; with
    `until`, those of an export up to that log index."""
    prefix = where.division_prefix()
    with path.open("rb") as handle:
        first = handle.readline()
        handle.seek(0)
        numbered = first.startswith(b'{"_format"')  # an export holds every entry in order
        if until and not numbered:
            _fail("--until: needs an export; the lines of a replay file carry no log index", 2)
        index = 0
        for number, line in enumerate(handle, 1):
            advance(len(line))
            if line.startswith(b'{"_') or not line.strip():
                continue
            index += 1
            if until and index > until:
                return
            try:
                event = _loads(line)
            except ValueError:
                _fail(f"{path}: line {number} is not JSON", 2)
            if prefix and not str(event.get("division", "")).startswith(prefix):
                continue
            yield (index if numbered else None), event
