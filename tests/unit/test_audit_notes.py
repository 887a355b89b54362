"""Signed checkpoints: the C2SP checkpoint and signed-note formats, the node's key, and the
errors a person gets for a bad note or key."""

from __future__ import annotations

import base64
import hashlib
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.audit.notes import (
    Checkpoint,
    NoteError,
    Signer,
    VerifierKey,
    open_note,
    origin_for,
    parse_checkpoint,
)
from tests.support.audit_logs import audit_signer

ROOT = hashlib.sha256(b"root").digest()
WHEN = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
CHECKPOINT = Checkpoint("govnet/320000/audit", 4096, ROOT, WHEN)


def test_the_checkpoint_body_is_the_c2sp_format_with_a_time_line() -> None:
    root = base64.b64encode(ROOT).decode()

    assert CHECKPOINT.body() == (
        f"govnet/320000/audit\n4096\n{root}\ntime 2026-11-27T01:30:00.000000Z\n"
    )


def test_a_signed_note_is_the_body_a_blank_line_and_an_em_dash_signature_line() -> None:
    signer = audit_signer()

    note = signer.sign(CHECKPOINT)

    body, _, signature_line = note.partition("\n\n")
    assert body + "\n" == CHECKPOINT.body()
    assert signature_line.startswith("\u2014 govnet/320000/audit ")
    raw = base64.b64decode(signature_line.rsplit(" ", 1)[1])
    assert raw[:4] == signer.verifier.key_hash
    # Any Ed25519 implementation checks it over the body's bytes.
    signer.verifier.public.verify(raw[4:], CHECKPOINT.body().encode())


def test_the_key_hash_and_verifier_key_follow_the_signed_note_rules() -> None:
    verifier = audit_signer().verifier
    public = verifier.public.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )

    expected_hash = hashlib.sha256(b"govnet/320000/audit\n\x01" + public).digest()[:4]
    encoded = base64.b64encode(b"\x01" + public).decode()
    assert verifier.key_hash == expected_hash
    assert str(verifier) == f"govnet/320000/audit+{expected_hash.hex()}+{encoded}"
    assert str(VerifierKey.parse(str(verifier))) == str(verifier)


def test_a_note_opens_with_its_key_and_gives_the_checkpoint_back() -> None:
    signer = audit_signer()

    opened = open_note(signer.sign(CHECKPOINT), signer.verifier)

    assert opened.checkpoint == CHECKPOINT


def test_a_note_signed_by_another_key_is_refused_naming_both() -> None:
    note = audit_signer(b"another").sign(CHECKPOINT)
    mine = audit_signer().verifier

    with pytest.raises(NoteError) as refused:
        open_note(note, mine)

    assert str(refused.value) == (
        f"not signed by govnet/320000/audit (key {mine.key_hash.hex()}); "
        "signed by govnet/320000/audit"
    )


def test_a_changed_note_fails_its_signature() -> None:
    signer = audit_signer()
    note = signer.sign(CHECKPOINT).replace("\n4096\n", "\n4095\n")

    with pytest.raises(NoteError, match="does not verify: the text was changed"):
        open_note(note, signer.verifier)


def test_a_key_does_not_sign_for_another_origin() -> None:
    with pytest.raises(NoteError, match="this key signs for govnet/320000/audit, not govnet/"):
        audit_signer().sign(Checkpoint("govnet/320100/audit", 1, ROOT, WHEN))


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        ("no blank line\n", "a signed note is a text, an empty line, then signature lines"),
        ("body\n\nsignature\n", "signature line 'signature' does not start with '— '"),
        ("body\n\n\u2014 name !!!\n", "the signature of name is not base64"),
        ("body", "a signed note ends with a newline"),
    ],
)
def test_a_malformed_note_is_refused_saying_why(note: str, reason: str) -> None:
    with pytest.raises(NoteError, match=reason.replace("(", r"\(")):
        open_note(note, audit_signer().verifier)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("origin\n01\nAAAA\ntime 2026-11-27T01:30:00Z\n", "the tree size '01' is not a decimal"),
        ("origin\n1\nAAAA\ntime 2026-11-27T01:30:00Z\n", "the root hash has 3 bytes, not 32"),
        (f"origin\n1\n{base64.b64encode(ROOT).decode()}\n", "exactly one 'time' line"),
        ("origin\n1\n", "a checkpoint is origin, size and root on lines of their own"),
    ],
)
def test_a_malformed_checkpoint_is_refused_saying_why(body: str, reason: str) -> None:
    with pytest.raises(NoteError, match=reason):
        parse_checkpoint(body)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("govnet/320000/audit", "a verifier key is <name>\\+<8 hex digits>\\+<base64 key>"),
        ("govnet/320000/audit+zz+AAAA", "the key hash is not hex or the key is not base64"),
        ("govnet/320000/audit+0011+AAAA", "the key hash must be 8 hex digits"),
        ("govnet/320000/audit+00112233+AAAA", "only Ed25519 keys"),
    ],
)
def test_a_bad_verifier_key_is_refused_saying_why(text: str, reason: str) -> None:
    with pytest.raises(NoteError, match=reason):
        VerifierKey.parse(text)


def test_a_verifier_key_whose_base64_holds_a_plus_sign_reads_back() -> None:
    signer = next(
        s
        for n in range(200)
        if "+" in str((s := audit_signer(b"%d" % n)).verifier).split("+", 2)[2]
    )

    assert str(VerifierKey.parse(str(signer.verifier))) == str(signer.verifier)


def test_a_verifier_key_whose_hash_does_not_match_is_refused() -> None:
    name, _, key = str(audit_signer().verifier).split("+", 2)

    with pytest.raises(NoteError, match="the key hash does not match the name and key"):
        VerifierKey.parse(f"{name}+00000000+{key}")


def test_the_node_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "320000" / "audit-ed25519.pem"

    first = Signer.load_or_create(path, origin_for("320000"))
    again = Signer.load_or_create(path, origin_for("320000"))

    assert str(first.verifier) == str(again.verifier)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_a_key_file_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.pem"
    path.write_text("not a key")

    with pytest.raises(NoteError, match=r"^not an unencrypted PEM private key$"):
        Signer.load_or_create(path, origin_for("320000"))


def test_a_key_file_holding_another_kind_of_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    with pytest.raises(NoteError, match=r"holds a .*RSAPrivateKey, not an Ed25519 key"):
        Signer.load_or_create(path, origin_for("320000"))


def test_the_golden_checkpoint_event_and_the_documented_note_verify_with_the_test_key() -> None:
    import json

    root = Path(__file__).resolve().parents[2]
    golden = json.loads((root / "tests/golden/checkpoint.signed.v1.json").read_text("utf-8"))
    note = golden["data"]["note"]

    opened = open_note(note, audit_signer().verifier)

    assert opened.checkpoint.size == golden["data"]["size"] == 4096
    assert base64.b64encode(opened.checkpoint.root).decode() == golden["data"]["root"]
    assert golden["data"]["key"] == str(audit_signer().verifier)
    assert note.rstrip("\n") in (root / "docs/audit.md").read_text("utf-8")
