"""Chinese public identifiers: validation, normalisation and masking.

Pure module (stdlib only, no I/O, no clock).  Every ``check_*`` function either
returns a frozen dataclass holding the normalised value and its parts, or
raises :class:`IdentifierError` whose ``reason`` is a short English sentence a
person can act on.

Covered identifiers
-------------------
* Resident ID number (GB 11643, 18 characters).  A trailing lowercase ``x`` is
  normalised to ``X``; 15-digit first-generation numbers are refused.  The
  birth date must be a real calendar date in 1850 or later.  Future dates are
  *not* refused, because this module never reads the clock.  Reasons never
  echo the full number (it is personal data); only the offending part is
  named.
* Unified social credit code, USCC (GB 32100, 18 characters).  Lowercase is
  normalised to uppercase.  The division part must be 6 digits and either a
  structurally valid GB/T 2260 code or ``100000`` (the national level, used for
  bodies registered centrally).
* Organisation code (GB 11714, 9 characters, written without the hyphen).
* Administrative division code (GB/T 2260, 6 digits, structural check only;
  there is no table of existing divisions here).
* Government service item codes: basic codes (基本编码) and implementation
  codes (实施编码), under pluggable :class:`CodeScheme` implementations
  registered in :data:`CODE_SCHEMES` (``"national"`` and ``"guizhou"``).

Embedded organisation code in a USCC
------------------------------------
Positions 9-17 of a USCC are a GB 11714 organisation code with its own check
character.  The reference vector ``91350100M000100Y43`` embeds ``M000100Y4``;
under GB 11714 the body ``M000100Y`` weighs
``22*3 + 0*7 + 0*9 + 0*10 + 1*5 + 0*8 + 0*4 + 34*2 = 139``, ``139 mod 11 = 7``,
``11 - 7 = 4``, and the embedded check character is ``4``: the vector passes.
As the known-good vector gives no evidence that valid codes carry failing
organisation codes, a bad embedded check character is a *rejection* by default
(reason ``"embedded organisation code ... check character is A, expected B"``).
Callers that must accept such codes anyway (e.g. when importing legacy
registers) pass ``strict_org_code=False`` to :func:`check_uscc`; the same
sentence is then returned in :attr:`CreditCode.org_code_warning` instead of
being raised.  With the default, ``org_code_warning`` is always ``None``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, TypeAlias

__all__ = [
    "CODE_SCHEMES",
    "GUIZHOU_ITEM_TYPES",
    "ITEM_TYPES",
    "ITEM_TYPE_NAMES_EN",
    "PROVINCE_PREFIXES",
    "REGISTRATION_AUTHORITIES",
    "USCC_ALPHABET",
    "BasicCode",
    "CodeScheme",
    "CreditCode",
    "DivisionCode",
    "GuizhouScheme",
    "Identification",
    "IdentifierError",
    "IdentifierKind",
    "ImplementationCode",
    "NationalScheme",
    "OrgCode",
    "ResidentId",
    "check_basic_code",
    "check_division_code",
    "check_implementation_code",
    "check_org_code",
    "check_resident_id",
    "check_uscc",
    "identify",
    "mask_identifier",
    "mask_name",
    "mask_phone",
    "mask_resident_id",
    "org_check_char",
    "resident_check_char",
    "uscc_check_char",
]


class IdentifierError(ValueError):
    """An identifier was refused; ``reason`` (== ``str(exc)``) says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Sex: TypeAlias = Literal["male", "female"]
DivisionLevel: TypeAlias = Literal["province", "city", "county"]
IdentifierKind: TypeAlias = Literal[
    "resident_id",
    "uscc",
    "org_code",
    "division",
    "basic_code",
    "implementation_code",
    "unknown",
]

_DIGITS: Final = "0123456789"
_ASCII_UPPER: Final = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_ORG_BODY_CHARS: Final = frozenset(_DIGITS + string.ascii_uppercase)


def _require_str(value: object) -> str:
    if not isinstance(value, str):
        raise IdentifierError("must be a string")
    return value


_WHITESPACE: Final = re.compile(r"\s")


def _require_text(value: object) -> str:
    text = _require_str(value)
    if _WHITESPACE.search(text):
        raise IdentifierError("contains whitespace")
    return text


def _upper(text: str) -> str:
    """ASCII-only uppercase, so the length never changes (unlike ``"ß".upper()``)."""
    return text.translate(_ASCII_UPPER)


def _is_digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` alone also accepts full-width and superscript
    digits, hence ``isascii`` first."""
    return text.isascii() and text.isdigit()


# --------------------------------------------------------------------------- divisions

PROVINCE_PREFIXES: Final[frozenset[str]] = frozenset(
    f"{n:02d}"
    for n in (
        *range(11, 16),
        *range(21, 24),
        *range(31, 38),
        *range(41, 47),
        *range(50, 55),
        *range(61, 66),
        71,
        81,
        82,
    )
)
"""Two-digit province prefixes defined by GB/T 2260."""

_NATIONAL_DIVISION: Final = "100000"


@dataclass(frozen=True)
class DivisionCode:
    """A structurally valid GB/T 2260 administrative division code."""

    code: str
    level: DivisionLevel
    parent: str | None


def check_division_code(value: str) -> DivisionCode:
    """Validate a 6-digit GB/T 2260 code: province (2) + prefecture (2) + county (2)."""
    if type(value) is str:  # a few hundred codes, checked once per import row: remembered
        return _check_division_code(value)
    return _check_division_code.__wrapped__(value)


@functools.lru_cache(maxsize=4096)
def _check_division_code(value: str) -> DivisionCode:
    text = _require_text(value)
    if len(text) != 6:
        raise IdentifierError(f"must be 6 digits, got {len(text)} characters")
    if not _is_digits(text):
        raise IdentifierError(f"must be 6 digits, got {text!r}")
    province, prefecture, county = text[:2], text[2:4], text[4:]
    if province not in PROVINCE_PREFIXES:
        raise IdentifierError(f"division {text} is not a GB/T 2260 province prefix ({province})")
    if prefecture == "00" and county != "00":
        raise IdentifierError(
            f"division {text} has prefecture 00 but county {county}, which GB/T 2260 never uses"
        )
    if prefecture == "00":
        return DivisionCode(text, "province", None)
    if county == "00":
        return DivisionCode(text, "city", province + "0000")
    return DivisionCode(text, "county", text[:4] + "00")


# --------------------------------------------------------------------------- resident ID

_RESIDENT_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECKS: Final = "10X98765432"
_EARLIEST_BIRTH_YEAR: Final = 1850


def _mask_middle(text: str, keep_start: int, keep_end: int) -> str:
    return text[:keep_start] + "*" * (len(text) - keep_start - keep_end) + text[-keep_end:]


@dataclass(frozen=True)
class ResidentId:
    """A valid resident ID number.  ``repr`` shows only the masked number."""

    value: str
    division: str
    birth_date: _dt.date
    sequence: str
    sex: Sex
    check: str

    def __repr__(self) -> str:
        return f"ResidentId({mask_resident_id(self.value)!r})"


def resident_check_char(first17: str) -> str:
    """GB 11643 check character for the first 17 digits of a resident ID number."""
    text = _require_text(first17)
    if len(text) != 17:
        raise IdentifierError(f"must be 17 digits, got {len(text)} characters")
    if not _is_digits(text):
        raise IdentifierError("must contain only digits")
    total = sum(int(c) * w for c, w in zip(text, _RESIDENT_WEIGHTS, strict=True))
    return _RESIDENT_CHECKS[total % 11]


def check_resident_id(value: str) -> ResidentId:
    """Validate an 18-character resident ID number (GB 11643)."""
    text = _require_text(value)
    if len(text) == 15 and _is_digits(text):
        raise IdentifierError(
            "15-digit first-generation numbers are not accepted; the 18-character number is needed"
        )
    if len(text) != 18:
        raise IdentifierError(f"must be 18 characters, got {len(text)}")
    for position, char in enumerate(text[:17], start=1):
        if char not in _DIGITS:
            raise IdentifierError(
                f"contains non-digit character {char!r} at position {position} "
                "(only the last character may be X)"
            )
    last = _upper(text[17])
    if last not in _RESIDENT_CHECKS:
        raise IdentifierError(f"last character must be a digit or X, got {text[17]!r}")
    text = text[:17] + last

    division = check_division_code(text[:6]).code
    raw_date = text[6:14]
    try:
        birth_date = _dt.date(int(raw_date[:4]), int(raw_date[4:6]), int(raw_date[6:]))
    except ValueError:
        raise IdentifierError(f"birth date {raw_date} is not a real date") from None
    if birth_date.year < _EARLIEST_BIRTH_YEAR:
        raise IdentifierError(f"birth date {raw_date} is before {_EARLIEST_BIRTH_YEAR}")

    expected = resident_check_char(text[:17])
    if last != expected:
        raise IdentifierError(f"check character is {last}, expected {expected}")
    sequence = text[14:17]
    sex: Sex = "male" if int(sequence) % 2 else "female"
    return ResidentId(text, division, birth_date, sequence, sex, last)


# --------------------------------------------------------------------------- organisation code

_ORG_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class OrgCode:
    """A valid GB 11714 organisation code (9 characters, no hyphen)."""

    value: str
    body: str
    check: str


def _org_char_value(char: str) -> int:
    return int(char) if char in _DIGITS else ord(char) - 55


def org_check_char(first8: str) -> str:
    """GB 11714 check character for an 8-character organisation code body."""
    text = _upper(_require_text(first8))
    if len(text) != 8:
        raise IdentifierError(f"must be 8 characters, got {len(text)}")
    for position, char in enumerate(text, start=1):
        if char not in _ORG_BODY_CHARS:
            raise IdentifierError(f"contains invalid character {char!r} at position {position}")
    total = sum(_org_char_value(c) * w for c, w in zip(text, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 10:
        return "X"
    if check == 11:
        return "0"
    return str(check)


def check_org_code(value: str) -> OrgCode:
    """Validate a 9-character GB 11714 organisation code (8 body chars + check char)."""
    text = _upper(_require_text(value))
    if len(text) == 10 and text[8] == "-":
        raise IdentifierError("must be 9 characters without the hyphen, got 10")
    if len(text) != 9:
        raise IdentifierError(f"must be 9 characters, got {len(text)}")
    expected = org_check_char(text[:8])
    check = text[8]
    if check not in _DIGITS + "X":
        raise IdentifierError(f"check character must be a digit or X, got {check!r}")
    if check != expected:
        raise IdentifierError(f"check character is {check}, expected {expected}")
    return OrgCode(text, text[:8], check)


# --------------------------------------------------------------------------- USCC

USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES: Final = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_FORBIDDEN: Final = "IOSVZ"

REGISTRATION_AUTHORITIES: Final[dict[str, str]] = {
    "1": "机构编制",
    "2": "外交",
    "3": "司法行政",
    "4": "文化",
    "5": "民政",
    "6": "旅游",
    "7": "宗教",
    "8": "工会",
    "9": "工商",
    "A": "中央军委改革和编制办公室",
    "N": "农业",
    "Y": "其他",
}
"""Human names of the well-known GB 32100 registration authority codes."""


@dataclass(frozen=True)
class CreditCode:
    """A valid unified social credit code."""

    value: str
    registration_authority: str
    category: str
    division: str
    org_code: str
    check: str
    org_code_warning: str | None = None

    @property
    def registration_authority_name(self) -> str | None:
        return REGISTRATION_AUTHORITIES.get(self.registration_authority)


_USCC_TEXT: Final = re.compile(r"[0-9A-HJ-NPQRTUWXY]*")


def _check_uscc_chars(text: str) -> None:
    if _USCC_TEXT.fullmatch(text):
        return
    for position, char in enumerate(text, start=1):
        if char in _USCC_FORBIDDEN:
            raise IdentifierError(
                f"contains forbidden letter {char} at position {position} "
                "(I, O, S, V and Z are never used)"
            )
        if char not in _USCC_VALUES:
            raise IdentifierError(f"contains invalid character {char!r} at position {position}")


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character for the first 17 characters of a USCC."""
    text = _upper(_require_text(first17))
    if len(text) != 17:
        raise IdentifierError(f"must be 17 characters, got {len(text)}")
    _check_uscc_chars(text)
    return _uscc_check(text)


def _uscc_check(first17: str) -> str:
    total = sum(_USCC_VALUES[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    # 31 - 0 would be 31, outside the alphabet; the outer mod maps it to 0.
    return USCC_ALPHABET[(31 - total % 31) % 31]


@functools.lru_cache(maxsize=65536)
def check_uscc(value: str, *, strict_org_code: bool = True) -> CreditCode:
    """Validate an 18-character unified social credit code (GB 32100).

    A failing embedded GB 11714 organisation code is refused unless
    ``strict_org_code`` is false, in which case it is reported in
    ``org_code_warning`` (see the module docstring for why).
    """
    text = _upper(_require_text(value))
    if len(text) != 18:
        raise IdentifierError(f"must be 18 characters, got {len(text)}")
    _check_uscc_chars(text)
    division = text[2:8]
    if not _is_digits(division):
        raise IdentifierError(f"division part {division} must be 6 digits")
    if division != _NATIONAL_DIVISION:
        check_division_code(division)
    expected = _uscc_check(text[:17])
    if text[17] != expected:
        raise IdentifierError(f"check character is {text[17]}, expected {expected}")

    org_code = text[8:17]
    org_expected = org_check_char(org_code[:8])
    warning: str | None = None
    if org_code[8] != org_expected:
        warning = (
            f"embedded organisation code {org_code} check character is {org_code[8]}, "
            f"expected {org_expected}"
        )
        if strict_org_code:
            raise IdentifierError(warning)
    return CreditCode(text, text[0], text[1], division, org_code, text[17], warning)


# --------------------------------------------------------------------------- item codes

ITEM_TYPES: Final[dict[str, str]] = {
    "01": "行政许可",
    "02": "行政处罚",
    "03": "行政强制",
    "04": "行政征收",
    "05": "行政给付",
    "06": "行政检查",
    "07": "行政确认",
    "08": "行政奖励",
    "09": "行政裁决",
    "10": "其他行政权力",
    "20": "公共服务",
}
"""National item type code -> Chinese name."""

ITEM_TYPE_NAMES_EN: Final[dict[str, str]] = {
    "01": "licensing",
    "02": "penalty",
    "03": "compulsory measure",
    "04": "levy",
    "05": "benefit payment",
    "06": "inspection",
    "07": "confirmation",
    "08": "reward",
    "09": "adjudication",
    "10": "other power",
    "20": "public service",
}
"""National item type code -> English name."""

GUIZHOU_ITEM_TYPES: Final[dict[str, str]] = {
    "XK": "01",
    "CF": "02",
    "QZ": "03",
    "ZS": "04",
    "JF": "05",
    "JC": "06",
    "QR": "07",
    "JL": "08",
    "CJ": "09",
    "QT": "10",
    "GG": "20",
}
"""DB52/T 1264 letter type code -> national item type code."""


@dataclass(frozen=True)
class BasicCode:
    """A valid basic item code.

    ``type_code`` is always the *national* two-digit type code, whatever the
    scheme spells it as; ``variant`` is ``None`` for schemes without one.
    """

    value: str
    scheme: str
    type_code: str
    main: str
    sub: str
    variant: str | None

    @property
    def type_name(self) -> str:
        return ITEM_TYPES[self.type_code]

    @property
    def type_name_en(self) -> str:
        return ITEM_TYPE_NAMES_EN[self.type_code]


@dataclass(frozen=True)
class ImplementationCode:
    """A valid implementation code: implementing body's USCC + basic code + sequence."""

    value: str
    uscc: CreditCode
    basic: BasicCode
    sequence: str


class CodeScheme(Protocol):
    """A way of spelling basic item codes."""

    @property
    def name(self) -> str: ...

    @property
    def length(self) -> int:
        """Length of a basic code in this scheme."""
        ...

    def parse_basic(self, value: str) -> BasicCode: ...

    def __hash__(self) -> int:
        """Schemes are hashable: parsed basic codes are cached per scheme."""
        ...


@dataclass(frozen=True)
class NationalScheme:
    """National scheme: type (2 digits) + main (5) + sub (3) + variant (2) = 12 digits."""

    name: str = field(default="national", init=False)
    length: int = field(default=12, init=False)

    def parse_basic(self, value: str) -> BasicCode:
        text = _require_text(value)
        if len(text) != self.length:
            raise IdentifierError(f"must be {self.length} characters, got {len(text)}")
        for position, char in enumerate(text, start=1):
            if char not in _DIGITS:
                raise IdentifierError(
                    f"contains non-digit character {char!r} at position {position}"
                )
        type_code = text[:2]
        if type_code not in ITEM_TYPES:
            raise IdentifierError(
                f"item type code {type_code} is not a national item type "
                f"(known: {', '.join(ITEM_TYPES)})"
            )
        return BasicCode(text, self.name, type_code, text[2:7], text[7:10], text[10:12])


@dataclass(frozen=True)
class GuizhouScheme:
    """DB52/T 1264: type (2 letters, e.g. XK) + main (5 digits) + sub (3 digits) = 10."""

    name: str = field(default="guizhou", init=False)
    length: int = field(default=10, init=False)

    def parse_basic(self, value: str) -> BasicCode:
        text = _upper(_require_text(value))
        if len(text) != self.length:
            raise IdentifierError(f"must be {self.length} characters, got {len(text)}")
        letters = text[:2]
        if not all(c in string.ascii_uppercase for c in letters):
            raise IdentifierError(f"item type code must be 2 letters, got {letters!r}")
        for position, char in enumerate(text[2:], start=3):
            if char not in _DIGITS:
                raise IdentifierError(
                    f"contains non-digit character {char!r} at position {position}"
                )
        if letters not in GUIZHOU_ITEM_TYPES:
            raise IdentifierError(
                f"item type code {letters} is not a DB52/T 1264 type code "
                f"(known: {', '.join(GUIZHOU_ITEM_TYPES)})"
            )
        return BasicCode(text, self.name, GUIZHOU_ITEM_TYPES[letters], text[2:7], text[7:10], None)


CODE_SCHEMES: Final[dict[str, CodeScheme]] = {
    "national": NationalScheme(),
    "guizhou": GuizhouScheme(),
}
"""Registered item-code schemes by name."""

_SEQUENCE_MAX: Final = 6


def _resolve_scheme(scheme: str | CodeScheme) -> CodeScheme:
    if not isinstance(scheme, str):
        return scheme
    try:
        return CODE_SCHEMES[scheme]
    except KeyError:
        known = ", ".join(sorted(CODE_SCHEMES))
        raise IdentifierError(f"unknown code scheme {scheme!r} (known: {known})") from None


@functools.lru_cache(maxsize=65536)
def check_basic_code(value: str, scheme: str | CodeScheme = "national") -> BasicCode:
    """Validate a basic item code (基本编码) under ``scheme`` (a name or a scheme object).

    Cached: a catalog repeats the same basic codes at every level (三级四同)."""
    text = _require_text(value)
    return _resolve_scheme(scheme).parse_basic(text)


def check_implementation_code(
    value: str, scheme: str | CodeScheme = "national"
) -> ImplementationCode:
    """Validate an implementation code (实施编码).

    USCC (18) + basic code (per ``scheme``) + sequence (1-6 digits).
    """
    text = _upper(_require_text(value))
    resolved = _resolve_scheme(scheme)
    shortest = 18 + resolved.length + 1
    longest = 18 + resolved.length + _SEQUENCE_MAX
    if not shortest <= len(text) <= longest:
        raise IdentifierError(f"must be {shortest} to {longest} characters, got {len(text)}")
    try:
        uscc = check_uscc(text[:18])
    except IdentifierError as exc:
        raise IdentifierError(f"USCC part: {exc.reason}") from exc
    basic_end = 18 + resolved.length
    try:
        basic = check_basic_code(text[18:basic_end], resolved)
    except IdentifierError as exc:
        raise IdentifierError(f"basic code part: {exc.reason}") from exc
    sequence = text[basic_end:]
    if not _is_digits(sequence):
        raise IdentifierError(f"sequence part {sequence} must be digits")
    return ImplementationCode(text, uscc, basic, sequence)


# --------------------------------------------------------------------------- masking


# ID and phone numbers written into free text, standing alone (not inside a longer code):
# resident ID numbers (division, birth date, sequence, check: an all-digit credit code has no
# birth date in it); mobile numbers, with +86 and spaces or hyphens; landlines with area code.
_ID_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[0-9]{3}[0-9Xx](?![0-9A-Za-z])"
)
_PHONE_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z+-])(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}(?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z-])0[0-9]{2,3}-[0-9]{7,8}(?![0-9A-Za-z-])"
)


def mask_in_text(text: str) -> str:
    """Free text (a reason, a comment, a log line) with every ID number and phone number in
    it masked as `mask_resident_id` and `mask_phone` mask them, the length unchanged."""
    text = _ID_IN_TEXT.sub(lambda m: mask_resident_id(m.group()), text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)


def mask_resident_id(value: str) -> str:
    """Keep the first 4 and last 4 characters; star the rest (all stars if 8 or fewer)."""
    text = _require_str(value)
    if len(text) <= 8:
        return "*" * len(text)
    return _mask_middle(text, 4, 4)


def mask_phone(value: str) -> str:
    """Keep the first 3 and last 4 characters; all stars if shorter than 8."""
    text = _require_str(value)
    if len(text) < 8:
        return "*" * len(text)
    return _mask_middle(text, 3, 4)


def mask_name(value: str) -> str:
    """Keep the first character and star the rest (a one-character name is all stars)."""
    text = _require_str(value)
    if len(text) <= 1:
        return "*" * len(text)
    return text[0] + "*" * (len(text) - 1)


_PUBLIC_KINDS: Final = frozenset(
    {"uscc", "org_code", "division", "basic_code", "implementation_code"}
)
_MASKERS: Final[dict[str, Callable[[str], str]]] = {
    "resident_id": mask_resident_id,
    "phone": mask_phone,
    "name": mask_name,
}


def mask_identifier(kind: str, value: str) -> str:
    """Mask ``value`` as appropriate for ``kind``.

    Personal data (``resident_id``, ``phone``, ``name``) is masked; public
    registration data (``uscc``, ``org_code``, ``division``, ``basic_code``,
    ``implementation_code``) is returned as is; ``unknown`` is fully starred.
    Any other kind is refused rather than guessed.
    """
    text = _require_str(value)
    masker = _MASKERS.get(kind)
    if masker is not None:
        return masker(text)
    if kind in _PUBLIC_KINDS:
        return text
    if kind == "unknown":
        return "*" * len(text)
    raise IdentifierError(f"unknown identifier kind {kind!r}")


# --------------------------------------------------------------------------- identify


@dataclass(frozen=True)
class Identification:
    """Result of :func:`identify`.  ``repr`` masks resident ID numbers."""

    kind: IdentifierKind
    valid: bool
    value: str
    reason: str | None
    parts: dict[str, str] = field(hash=False)

    def __repr__(self) -> str:
        if self.kind != "resident_id":
            return (
                f"Identification(kind={self.kind!r}, valid={self.valid!r}, "
                f"value={self.value!r}, reason={self.reason!r}, parts={self.parts!r})"
            )
        return (
            f"Identification(kind='resident_id', valid={self.valid!r}, "
            f"value={mask_resident_id(self.value)!r}, reason={self.reason!r}, "
            f"parts=<{len(self.parts)} withheld>)"
        )


_RECOGNISED_LENGTHS: Final = (
    "18 characters (resident ID or USCC), 15 digits (first-generation resident ID), "
    "9 characters (organisation code), 6 digits (division), 12 digits (basic item code) "
    "or 31 to 36 characters (implementation code)"
)


def _passes(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except IdentifierError:
        return False
    return True


def _looks_like_date(text: str) -> bool:
    """Year 1800-2099, month 01-12, day 01-31 (not necessarily a real date)."""
    return (
        _is_digits(text)
        and text[:2] in {"18", "19", "20"}
        and 1 <= int(text[4:6]) <= 12
        and 1 <= int(text[6:8]) <= 31
    )


def _guess_kind(text: str) -> IdentifierKind:
    length = len(text)
    if length == 18:
        if not _is_digits(text[:17]):
            return "uscc"
        if text[17] not in _DIGITS + "Xx":  # a resident ID mistyped in its last place?
            if _passes(check_uscc, text) or not _looks_like_date(text[6:14]):
                return "uscc"
            return "resident_id"
        if _passes(check_resident_id, text):
            return "resident_id"
        if _passes(check_uscc, text):
            return "uscc"
        return "resident_id" if _looks_like_date(text[6:14]) else "uscc"
    if length == 15 and _is_digits(text):
        return "resident_id"
    if length == 9:
        return "org_code"
    if length == 6 and _is_digits(text):
        return "division"
    if length == 12 and _is_digits(text):
        return "basic_code"
    if 31 <= length <= 36:
        return "implementation_code"
    return "unknown"


def _resident_parts(value: str) -> tuple[str, dict[str, str]]:
    rid = check_resident_id(value)
    return rid.value, {
        "division": rid.division,
        "birth_date": rid.birth_date.isoformat(),
        "sex": rid.sex,
        "sequence": rid.sequence,
        "check": rid.check,
    }


def _uscc_parts(value: str) -> tuple[str, dict[str, str]]:
    code = check_uscc(value)
    authority = code.registration_authority
    name = code.registration_authority_name
    parts = {
        "registration_authority": f"{authority} {name}" if name else authority,
        "category": code.category,
        "division": code.division,
        "org_code": code.org_code,
        "check": code.check,
    }
    return code.value, parts


def _org_parts(value: str) -> tuple[str, dict[str, str]]:
    code = check_org_code(value)
    return code.value, {"body": code.body, "check": code.check}


def _division_parts(value: str) -> tuple[str, dict[str, str]]:
    code = check_division_code(value)
    parts: dict[str, str] = {"level": code.level}
    if code.parent is not None:
        parts["parent"] = code.parent
    return code.code, parts


def _basic_fields(code: BasicCode) -> dict[str, str]:
    parts = {
        "scheme": code.scheme,
        "type_code": code.type_code,
        "type": f"{code.type_name} ({code.type_name_en})",
        "main": code.main,
        "sub": code.sub,
    }
    if code.variant is not None:
        parts["variant"] = code.variant
    return parts


def _basic_parts(value: str) -> tuple[str, dict[str, str]]:
    code = check_basic_code(value)
    return code.value, _basic_fields(code)


def _implementation_parts(value: str) -> tuple[str, dict[str, str]]:
    code = check_implementation_code(value)
    return code.value, {
        "uscc": code.uscc.value,
        "basic_code": code.basic.value,
        "type": f"{code.basic.type_name} ({code.basic.type_name_en})",
        "sequence": code.sequence,
    }


_PARSERS: Final[dict[str, Callable[[str], tuple[str, dict[str, str]]]]] = {
    "resident_id": _resident_parts,
    "uscc": _uscc_parts,
    "org_code": _org_parts,
    "division": _division_parts,
    "basic_code": _basic_parts,
    "implementation_code": _implementation_parts,
}


def identify(value: str) -> Identification:
    """Decide which kind of identifier ``value`` most plausibly is, and validate it.

    The kind is guessed from the length and alphabet of ``value`` with any
    whitespace ignored (the validation itself still refuses whitespace).  An
    18-character value of 17 digits and any last character is a resident ID if
    it passes the resident check, else a USCC if it passes the USCC check,
    else a resident ID if positions 7-14 look like a date, else a USCC.
    """
    text = _require_str(value)
    kind = _guess_kind("".join(text.split()))
    if kind == "unknown":
        reason = (
            f"not a recognised identifier: expected {_RECOGNISED_LENGTHS}; "
            f"got {len(text)} characters"
        )
        return Identification("unknown", False, text, reason, {})
    try:
        normalised, parts = _PARSERS[kind](text)
    except IdentifierError as exc:
        return Identification(kind, False, _upper(text), exc.reason, {})
    return Identification(kind, True, normalised, None, parts)
