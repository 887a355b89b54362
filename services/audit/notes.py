"""Signed checkpoints in the formats transparency logs share, so that auditors can check
them with any tool that speaks them, not only with govnet.

- The checkpoint body is C2SP `tlog-checkpoint`: three lines — origin, tree size in
  decimal, base64 root hash — then govnet's one extension line, `time <RFC 3339 UTC>`.
- It is wrapped in a C2SP `signed-note`: the body, an empty line, and one line per
  signature: `— <key name> <base64(4-byte key hash || 64-byte Ed25519 signature)>`.
- Keys are named by the origin. A verifier key is written
  `<name>+<8 hex digits of the key hash>+<base64(0x01 || 32-byte public key)>`, where the
  key hash is the first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key).

The node's private key lives in a PEM (PKCS #8) file under `var/`, readable by its owner
only; it is made on first start. This module does no network I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from services.contract.envelope import format_time, parse_time
from services.contract.errors import ContractError

ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space
_NAME_RE = re.compile(r"^[^\s+]+$")
_TIME_LINE = "time "


class NoteError(ValueError):
    """A checkpoint, note or key that cannot be read or does not verify; says why."""


def origin_for(division: str) -> str:
    """The origin (and key name) of a node's audit log."""
    return f"govnet/{division}/audit"


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the log of `origin` had `size` entries with this `root`."""

    origin: str
    size: int
    root: bytes
    time: datetime

    def body(self) -> str:
        """The text that is signed."""
        root = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root}\n{_TIME_LINE}{format_time(self.time)}\n"


@dataclass(frozen=True)
class VerifierKey:
    """A public key and its name, as auditors pin it."""

    name: str
    key_hash: bytes
    public: Ed25519PublicKey

    def __str__(self) -> str:
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        encoded = base64.b64encode(bytes([ED25519]) + raw).decode("ascii")
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    @classmethod
    def of(cls, name: str, public: Ed25519PublicKey) -> VerifierKey:
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cls(name, key_hash(name, raw), public)

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Read `<name>+<hash>+<base64 key>`; raise `NoteError` saying what is wrong."""
        parts = text.strip().split("+", 2)  # base64 may hold "+" too
        if len(parts) != 3:
            raise NoteError("a verifier key is <name>+<8 hex digits>+<base64 key>")
        name, hash_hex, encoded = parts
        if not _NAME_RE.match(name):
            raise NoteError("the key name is empty or contains a space or '+'")
        try:
            declared = bytes.fromhex(hash_hex)
            raw = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("the key hash is not hex or the key is not base64") from None
        if len(declared) != 4:
            raise NoteError("the key hash must be 8 hex digits")
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("only Ed25519 keys (algorithm byte 0x01, 32 bytes) are supported")
        public = Ed25519PublicKey.from_public_bytes(raw[1:])
        if key_hash(name, raw[1:]) != declared:
            raise NoteError("the key hash does not match the name and key")
        return cls(name, declared, public)


def key_hash(name: str, public_raw: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519]) + public_raw).digest()[:4]


class Signer:
    """The node's signing key."""

    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        if not _NAME_RE.match(name):
            raise NoteError(f"key name {name!r} is empty or contains a space or '+'")
        self.name = name
        self._private = private
        self.verifier = VerifierKey.of(name, private.public_key())

    def sign(self, checkpoint: Checkpoint) -> str:
        """The signed note of `checkpoint`."""
        if checkpoint.origin != self.name:
            raise NoteError(f"this key signs for {self.name}, not {checkpoint.origin}")
        body = checkpoint.body()
        signature = self._private.sign(body.encode("utf-8"))
        encoded = base64.b64encode(self.verifier.key_hash + signature).decode("ascii")
        return f"{body}\n{SIGNATURE_PREFIX}{self.name} {encoded}\n"

    @classmethod
    def load_or_create(cls, path: Path, name: str) -> Signer:
        """Read the key at `path`, making a new one (mode 0600) if there is none."""
        try:
            return cls(name, _read_private_key(path))
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of the node made it first
            return cls(name, _read_private_key(path))
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return cls(name, private)


def _read_private_key(path: Path) -> Ed25519PrivateKey:
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise NoteError("not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise NoteError(f"holds a {type(key).__name__}, not an Ed25519 key")
    return key


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str
    key_name: str
    key_hash: bytes


def open_note(note: str, key: VerifierKey) -> SignedCheckpoint:
    """Verify `note` with `key` and read its checkpoint; raise `NoteError` saying why not."""
    body, signatures = _split_note(note)
    mine = [(sig, h) for name, h, sig in signatures if name == key.name and h == key.key_hash]
    if not mine:
        names = ", ".join(sorted({name for name, _, _ in signatures})) or "nobody"
        raise NoteError(f"not signed by {key.name} (key {key.key_hash.hex()}); signed by {names}")
    for signature, _ in mine:
        try:
            key.public.verify(signature, body.encode("utf-8"))
        except InvalidSignature:
            continue
        checkpoint = parse_checkpoint(body)
        if checkpoint.origin != key.name:
            raise NoteError(f"the checkpoint's origin {checkpoint.origin} is not {key.name}")
        return SignedCheckpoint(checkpoint, note, key.name, key.key_hash)
    raise NoteError(f"the signature of {key.name} does not verify: the text was changed")


def parse_checkpoint(body: str) -> Checkpoint:
    """Read a checkpoint body (not checking any signature)."""
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint is origin, size and root on lines of their own")
    origin, size_text, root_text, *extensions = lines[:-1]
    if not origin:
        raise NoteError("the checkpoint has an empty origin")
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise NoteError(f"the tree size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise NoteError("the root hash is not base64") from None
    if len(root) != 32:
        raise NoteError(f"the root hash has {len(root)} bytes, not 32")
    times = [line[len(_TIME_LINE) :] for line in extensions if line.startswith(_TIME_LINE)]
    if len(times) != 1:
        raise NoteError("a govnet checkpoint has exactly one 'time' line")
    try:
        time = parse_time(times[0], "time")
    except ContractError as exc:
        raise NoteError(f"the time line: {exc}") from None
    return Checkpoint(origin, int(size_text), root, time)


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    if not note.endswith("\n"):
        raise NoteError("a signed note ends with a newline")
    body, sep, tail = note.rpartition("\n\n")
    if not sep:
        raise NoteError("a signed note is a text, an empty line, then signature lines")
    signatures: list[tuple[str, bytes, bytes]] = []
    for line in tail[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"signature line {line[:40]!r} does not start with '— '")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise NoteError(f"the signature of {name} is not base64") from None
        if len(raw) < 5:
            raise NoteError(f"the signature of {name} is too short")
        signatures.append((name, raw[:4], raw[4:]))
    return body + "\n", signatures
