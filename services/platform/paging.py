"""Page tokens of every paged listing: opaque, URL-safe, and good for one query only.

A listing pages in a fixed order and resumes after the position of the last item of the
previous page (a row id, a sequence number, a case number). `page_token` wraps that position
with a digest of the *key* of the query (what its items depend on: the filters, not the page
size), and `read_page_token` gives the position back only for a query of the same key. So a
token taken from one query and sent with another is refused, never answered with the other
query's items after that position.

Pure: no I/O. The caller decides what its key is; this module only digests it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

from services.contract.errors import FieldViolation
from services.platform.errors import InvalidArgument

Key = Sequence[str]
"""What the items of a query depend on, as strings: a name of the listing and its filters in
canonical spelling (a listing of another name never takes the token)."""
P = TypeVar("P", int, str)

MAX_POSITION = 2**63 - 1  # the largest integer a store compares a row id with (SQLite)
MAX_TEXT = 64  # bytes of UTF-8: a text position (a case number) is far shorter

# A token is base64url (unpadded) of: the format (1 byte, which also says the kind of
# position), a digest of the query key (8 bytes), then the position: 8 bytes big-endian for
# a number; for a text, its length (1 byte, so that a token cut short is not read as a
# shorter text) and its UTF-8. No secret goes in: a token that anyone could make says no
# more than "after this position, in this query", so it needs no signing, and it stays
# valid across calls, restarts and nodes of one version. Format 1 was the catalog's own
# (position before digest); its tokens are refused as made by an earlier version.
_NUMBER, _TEXT = 2, 3
_DIGEST = 8
_MAX_CHARS = -(-(1 + _DIGEST + 1 + MAX_TEXT) * 4 // 3)
NOT_A_TOKEN = (
    "is not a token this API returned (garbled, cut short, or made by an earlier version): "
    "search again without it"
)


def another_query(query_fields: str) -> str:
    """The reason a token of another query is refused; `query_fields` names what makes the
    query, e.g. "the text and filters"."""
    return (
        f"belongs to another query: send {query_fields} of the query that returned it, "
        "or no page_token for a first page"
    )


def page_token(position: int | str, key: Key) -> str:
    """The opaque, URL-safe token of the page after `position` in the query of `key`; the
    same for the same position and key on every call and process. `ValueError` for a
    position a token cannot hold (a number outside 0..MAX_POSITION, an empty text, a text
    over MAX_TEXT bytes of UTF-8): a caller's bug, not a user's."""
    if isinstance(position, int):
        if not 0 <= position <= MAX_POSITION:
            raise ValueError(f"a page position must be 0 to {MAX_POSITION}, got {position}")
        raw = bytes([_NUMBER]) + _digest(key) + position.to_bytes(8, "big")
    else:
        text = position.encode("utf-8")
        if not 0 < len(text) <= MAX_TEXT:
            raise ValueError(f"a page position must be 1 to {MAX_TEXT} bytes of UTF-8")
        raw = bytes([_TEXT]) + _digest(key) + bytes([len(text)]) + text
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def read_page_token(token: str, key: Key | None, kind: type[P], *, query_fields: str) -> P:
    """The position (of `kind`, int or str) that `page_token` put in `token` for `key`.

    Raises `InvalidArgument` naming `page_token`: `NOT_A_TOKEN` if `page_token` did not make
    it (garbled, cut short, a bare position, a position of another kind, an earlier format);
    `another_query(query_fields)` if it made it for another key. With `key` None only the
    former is checked: for a query refused for other reasons, whose key means nothing yet.
    """
    parts = _parts(token, kind)
    if parts is None:
        raise InvalidArgument.single("page_token", NOT_A_TOKEN)
    position, digest = parts
    if key is not None and digest != _digest(key):
        raise InvalidArgument.single("page_token", another_query(query_fields))
    return position


def checked_position(
    token: str,
    key: Callable[[], Key],
    kind: type[P],
    problems: list[FieldViolation],
    *,
    query_fields: str,
) -> P | None:
    """`read_page_token` for a request being checked field by field: a refused token is added
    to `problems` (None returned). The query's `key()` is asked for only when `problems` is
    empty so far: a query refused for other reasons has no key yet, and its token is checked
    as a token only."""
    try:
        return read_page_token(token, None if problems else key(), kind, query_fields=query_fields)
    except InvalidArgument as exc:
        problems.extend(exc.violations)
        return None


def _digest(key: Key) -> bytes:
    # Each part is length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
    framed = b"".join(len(p).to_bytes(4, "big") + p for p in (s.encode("utf-8") for s in key))
    return hashlib.blake2b(framed, digest_size=_DIGEST, person=b"govnet.page").digest()


def _parts(token: str, kind: type[P]) -> tuple[P, bytes] | None:
    """(position, key digest) of a token `page_token` made with a position of `kind`."""
    if not 0 < len(token) <= _MAX_CHARS or not token.isascii():
        return None
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
    except ValueError:
        return None
    # Only the one spelling page_token makes (base64 decoding ignores stray characters and
    # the unused low bits of the last one).
    if len(raw) < 1 + _DIGEST or base64.urlsafe_b64encode(raw).decode("ascii") != padded:
        return None
    digest, body = raw[1 : 1 + _DIGEST], raw[1 + _DIGEST :]
    if kind is int and raw[0] == _NUMBER and len(body) == 8:
        number = int.from_bytes(body, "big")
        return (number, digest) if number <= MAX_POSITION else None  # type: ignore[return-value]
    if kind is str and raw[0] == _TEXT and body and 0 < body[0] == len(body) - 1 <= MAX_TEXT:
        try:
            return body[1:].decode("utf-8"), digest  # type: ignore[return-value]
        except UnicodeDecodeError:
            return None
    return None
