"""Page tokens shared by every paged listing: opaque, URL-safe, deterministic, and bound to
the query that made them."""

from __future__ import annotations

import re

import pytest

from services.platform import paging
from services.platform.errors import InvalidArgument

NOT_A_TOKEN = (
    "is not a token this API returned (garbled, cut short, or made by an earlier version): "
    "search again without it"
)
KEY = ("inbox", "js-gov-8f3a21c7", "unread")


def refusal(token: str, key: paging.Key, kind: type[int] | type[str] = int) -> tuple[str, str]:
    with pytest.raises(InvalidArgument) as info:
        paging.read_page_token(token, key, kind, query_fields="the recipient and filters")
    [violation] = info.value.violations
    return violation.field, violation.reason


@pytest.mark.parametrize("position", [0, 7, 123456, paging.MAX_POSITION])
def test_a_number_position_comes_back_for_its_query(position: int) -> None:
    token = paging.page_token(position, KEY)

    assert re.fullmatch("[A-Za-z0-9_-]+", token), token
    assert token != str(position)
    assert token == paging.page_token(position, KEY)  # the same on every call and process
    assert paging.read_page_token(token, KEY, int, query_fields="the filters") == position


@pytest.mark.parametrize("position", ["320102-20261127-000001", "案", "x" * paging.MAX_TEXT])
def test_a_text_position_comes_back_for_its_query(position: str) -> None:
    token = paging.page_token(position, KEY)

    assert re.fullmatch("[A-Za-z0-9_-]+", token), token
    assert position not in token
    assert paging.read_page_token(token, KEY, str, query_fields="the filters") == position


@pytest.mark.parametrize(
    "other",
    [
        ("inbox", "js-gov-8f3a21c7", "all"),
        ("inbox", "js-gov-8f3a21c7"),
        ("inbox", "js-gov-8f3a21c7", "unread", ""),
        ("inbox", "js-gov-8f3a21c", "7unread"),  # the same characters, split elsewhere
        ("work_orders", "js-gov-8f3a21c7", "unread"),
    ],
)
def test_a_token_of_another_query_is_refused_naming_page_token(other: paging.Key) -> None:
    token = paging.page_token(40, KEY)

    assert refusal(token, other) == (
        "page_token",
        "belongs to another query: send the recipient and filters of the query that "
        "returned it, or no page_token for a first page",
    )


def test_a_garbled_token_is_refused_naming_page_token() -> None:
    good = paging.page_token(40, KEY)
    garbled = [
        "40",  # a bare position, as earlier versions made them
        "320102-20261127-000001",
        "9" * 25,
        "1" * 5000,
        good[:-2],
        good + "AA",
        good.replace(good[3], "!" if good[3] != "!" else "?"),
        "Ａ" * len(good),
        good[:1] + ("B" if good[1] != "B" else "C") + good[2:],
    ]
    for token in garbled:
        assert refusal(token, KEY) == ("page_token", NOT_A_TOKEN), token


def test_a_text_token_cut_short_or_lengthened_is_refused() -> None:
    token = paging.page_token("320102-20261127-000001", KEY)
    for cut in range(1, 12):
        assert refusal(token[:-cut], KEY, str) == ("page_token", NOT_A_TOKEN), cut
    for extra in ("A", "AA", "AAAA", "MDAx"):
        assert refusal(token + extra, KEY, str) == ("page_token", NOT_A_TOKEN), extra


def test_a_token_holding_a_position_of_another_kind_is_not_a_token_of_this_api() -> None:
    assert refusal(paging.page_token("320102-20261127-000001", KEY), KEY, int) == (
        "page_token",
        NOT_A_TOKEN,
    )
    assert refusal(paging.page_token(40, KEY), KEY, str) == ("page_token", NOT_A_TOKEN)


def test_without_a_key_only_the_spelling_of_a_token_is_checked() -> None:
    # A query refused for other reasons has no key yet: its token is checked as a token.
    token = paging.page_token(40, KEY)

    assert paging.read_page_token(token, None, int, query_fields="the filters") == 40
    assert refusal("40", None) == ("page_token", NOT_A_TOKEN)


def test_a_position_a_token_cannot_hold_is_a_programming_error() -> None:
    for position in (-1, paging.MAX_POSITION + 1, "", "x" * (paging.MAX_TEXT + 1)):
        with pytest.raises(ValueError, match="position"):
            paging.page_token(position, KEY)
