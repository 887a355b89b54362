"""Unit tests for services.contract.identifiers."""

from __future__ import annotations

import datetime as dt
import random
import string
from typing import Any, Literal

import pytest

from services.contract.identifiers import (
    CODE_SCHEMES,
    ITEM_TYPE_NAMES_EN,
    ITEM_TYPES,
    PROVINCE_PREFIXES,
    USCC_ALPHABET,
    BasicCode,
    CreditCode,
    DivisionCode,
    GuizhouScheme,
    Identification,
    IdentifierError,
    NationalScheme,
    OrgCode,
    ResidentId,
    check_basic_code,
    check_division_code,
    check_implementation_code,
    check_org_code,
    check_resident_id,
    check_uscc,
    identify,
    mask_identifier,
    mask_name,
    mask_phone,
    mask_resident_id,
    org_check_char,
    resident_check_char,
    uscc_check_char,
)

RESIDENT = "11010519491231002X"
USCC = "91350100M000100Y43"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def resident(first17: str) -> str:
    return first17 + resident_check_char(first17)


def uscc(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def refusal(check: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(IdentifierError) as info:
        check(*args, **kwargs)
    assert str(info.value) == info.value.reason
    return info.value.reason


# --------------------------------------------------------------------------- errors and input


def test_identifier_error_is_a_value_error_whose_text_is_the_reason() -> None:
    error = IdentifierError("must be a string")
    assert isinstance(error, ValueError)
    assert error.reason == "must be a string"
    assert str(error) == "must be a string"


@pytest.mark.parametrize(
    "check",
    [
        check_resident_id,
        check_uscc,
        check_org_code,
        check_division_code,
        check_basic_code,
        check_implementation_code,
        resident_check_char,
        uscc_check_char,
        org_check_char,
        mask_resident_id,
        mask_phone,
        mask_name,
        identify,
    ],
)
def test_a_value_that_is_not_a_string_is_refused(check: Any) -> None:
    assert refusal(check, 11010519491231002) == "must be a string"


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (check_resident_id, f" {RESIDENT}"),
        (check_resident_id, f"{RESIDENT}\n"),
        (check_uscc, f"{USCC} "),
        (check_org_code, "D2143569X\t"),
        (check_division_code, "110105 "),
        (check_basic_code, " 010000100100"),
        (check_implementation_code, f"{USCC} 0100001001001"),
    ],
)
def test_surrounding_or_inner_whitespace_is_refused_not_stripped(check: Any, value: str) -> None:
    assert refusal(check, value) == "contains whitespace"


# --------------------------------------------------------------------------- resident ID


def test_reference_resident_id_is_valid_and_split_into_parts() -> None:
    assert check_resident_id(RESIDENT) == ResidentId(
        value="11010519491231002X",
        division="110105",
        birth_date=dt.date(1949, 12, 31),
        sequence="002",
        sex="female",
        check="X",
    )


def test_resident_id_with_lowercase_x_is_normalised_to_uppercase() -> None:
    assert check_resident_id("11010519491231002x").value == "11010519491231002X"


def test_resident_check_char_of_reference_prefix_is_x() -> None:
    # 1*7+1*9+0*10+1*5+0*8+5*4+1*2+9*1+4*6+9*3+1*7+2*9+3*10+1*5+0*8+0*4+2*2 = 167;
    # 167 mod 11 = 2; "10X98765432"[2] = "X".
    assert resident_check_char("11010519491231002") == "X"


def test_resident_id_with_wrong_check_character_is_refused() -> None:
    assert refusal(check_resident_id, "110105194912310021") == "check character is 1, expected X"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (RESIDENT[:17], "must be 18 characters, got 17"),
        (RESIDENT + "1", "must be 18 characters, got 19"),
        ("", "must be 18 characters, got 0"),
    ],
)
def test_resident_id_with_wrong_length_is_refused(value: str, reason: str) -> None:
    assert refusal(check_resident_id, value) == reason


def test_fifteen_digit_first_generation_resident_id_is_refused() -> None:
    assert refusal(check_resident_id, "110105491231002") == (
        "15-digit first-generation numbers are not accepted; the 18-character number is needed"
    )


def test_resident_id_with_letter_before_the_last_position_is_refused() -> None:
    assert refusal(check_resident_id, "1101051949123100X2") == (
        "contains non-digit character 'X' at position 17 (only the last character may be X)"
    )


def test_resident_id_with_full_width_digit_is_refused() -> None:
    assert refusal(check_resident_id, "１1010519491231002X") == (
        "contains non-digit character '１' at position 1 (only the last character may be X)"
    )


def test_resident_id_ending_in_another_letter_is_refused() -> None:
    assert refusal(check_resident_id, "11010519491231002Y") == (
        "last character must be a digit or X, got 'Y'"
    )


@pytest.mark.parametrize(
    ("birth", "reason"),
    [
        ("19491331", "birth date 19491331 is not a real date"),
        ("20010230", "birth date 20010230 is not a real date"),
        ("19490000", "birth date 19490000 is not a real date"),
        ("20010229", "birth date 20010229 is not a real date"),
        ("17000101", "birth date 17000101 is before 1850"),
        ("18491231", "birth date 18491231 is before 1850"),
    ],
)
def test_resident_id_with_impossible_birth_date_is_refused(birth: str, reason: str) -> None:
    assert refusal(check_resident_id, resident(f"110105{birth}002")) == reason


def test_resident_id_born_on_a_leap_day_or_on_first_day_of_1850_is_accepted() -> None:
    assert check_resident_id(resident("44030420000229002")).birth_date == dt.date(2000, 2, 29)
    assert check_resident_id(resident("11010518500101002")).birth_date == dt.date(1850, 1, 1)


def test_resident_id_with_invalid_province_prefix_is_refused() -> None:
    assert refusal(check_resident_id, resident("99010119491231002")) == (
        "division 990101 is not a GB/T 2260 province prefix (99)"
    )


def test_resident_id_with_structurally_invalid_division_is_refused() -> None:
    assert refusal(check_resident_id, resident("11000519491231002")) == (
        "division 110005 has prefecture 00 but county 05, which GB/T 2260 never uses"
    )


@pytest.mark.parametrize(
    ("sequence", "sex"),
    [("001", "male"), ("002", "female"), ("999", "male"), ("000", "female")],
)
def test_odd_sequence_is_male_and_even_sequence_is_female(sequence: str, sex: str) -> None:
    parsed = check_resident_id(resident(f"11010519491231{sequence}"))
    assert parsed.sequence == sequence
    assert parsed.sex == sex


def test_resident_id_refusals_never_echo_the_full_number() -> None:
    values = [
        "110105194912310021",
        "11010519491231002Y",
        resident("11010519491331002"),
        resident("99010519491231002"),
        RESIDENT + "1",
    ]
    for value in values:
        reason = refusal(check_resident_id, value)
        assert value not in reason
        assert value[:17] not in reason


def test_resident_id_repr_shows_only_the_masked_number() -> None:
    assert repr(check_resident_id(RESIDENT)) == "ResidentId('1101**********002X')"


def test_resident_check_char_refuses_a_prefix_of_wrong_length() -> None:
    assert (
        refusal(resident_check_char, "1101051949123100") == "must be 17 digits, got 16 characters"
    )
    assert refusal(resident_check_char, "1101051949123100A") == "must contain only digits"


# --------------------------------------------------------------------------- USCC


def test_reference_uscc_is_valid_and_split_into_parts() -> None:
    assert check_uscc(USCC) == CreditCode(
        value="91350100M000100Y43",
        registration_authority="9",
        category="1",
        division="350100",
        org_code="M000100Y4",
        check="3",
        org_code_warning=None,
    )


def test_uscc_check_char_of_reference_prefix_is_3() -> None:
    # Values 9,1,3,5,0,1,0,0,M=21,0,0,0,1,0,0,Y=30,4 against the weights sum to 1640;
    # 1640 mod 31 = 28; 31 - 28 = 3 -> "3".
    assert uscc_check_char("91350100M000100Y4") == "3"


def test_uscc_registration_authority_has_a_human_name() -> None:
    assert check_uscc(USCC).registration_authority_name == "工商"


def test_uscc_in_lowercase_is_normalised_to_uppercase() -> None:
    assert check_uscc("91350100m000100y43").value == USCC


def test_uscc_with_wrong_check_character_is_refused() -> None:
    assert refusal(check_uscc, "91350100M000100Y44") == "check character is 4, expected 3"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (USCC[:17], "must be 18 characters, got 17"),
        (USCC + "0", "must be 18 characters, got 19"),
    ],
)
def test_uscc_with_wrong_length_is_refused(value: str, reason: str) -> None:
    assert refusal(check_uscc, value) == reason


@pytest.mark.parametrize(
    ("letter", "position"),
    [("I", 9), ("O", 5), ("S", 12), ("V", 16), ("Z", 18)],
)
def test_uscc_with_forbidden_letter_is_refused_naming_letter_and_position(
    letter: str, position: int
) -> None:
    value = USCC[: position - 1] + letter + USCC[position:]
    assert refusal(check_uscc, value) == (
        f"contains forbidden letter {letter} at position {position} "
        "(I, O, S, V and Z are never used)"
    )


def test_uscc_with_lowercase_forbidden_letter_names_it_in_uppercase() -> None:
    assert refusal(check_uscc, "91350100o000100Y43") == (
        "contains forbidden letter O at position 9 (I, O, S, V and Z are never used)"
    )


def test_uscc_with_punctuation_is_refused_naming_the_position() -> None:
    assert (
        refusal(check_uscc, "91350100-000100Y43") == "contains invalid character '-' at position 9"
    )


def test_uscc_with_letters_in_the_division_is_refused() -> None:
    assert refusal(check_uscc, uscc("9135A100M000100Y4")) == "division part 35A100 must be 6 digits"


def test_uscc_with_invalid_division_is_refused() -> None:
    assert refusal(check_uscc, uscc("91990100M000100Y4")) == (
        "division 990100 is not a GB/T 2260 province prefix (99)"
    )


def test_uscc_registered_at_national_level_division_100000_is_accepted() -> None:
    body = "10000134"
    value = uscc("91100000" + body + org_check_char(body))
    assert check_uscc(value).division == "100000"


def test_uscc_check_value_of_31_wraps_to_0() -> None:
    # Brute force an organisation code body so that the weighted sum is a multiple of 31:
    # then 31 - 0 = 31 is outside the alphabet and the outer mod must bring it back to 0.
    for number in range(100_000):
        body = f"{number:08d}"
        prefix = "91350100" + body + org_check_char(body)
        total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(prefix, USCC_WEIGHTS, strict=True))
        if total % 31 == 0:
            break
    else:
        pytest.fail("no prefix with a weighted sum divisible by 31")
    assert prefix == "91350100000000166"
    assert uscc_check_char(prefix) == "0"
    assert check_uscc(prefix + "0").check == "0"


def test_uscc_whose_embedded_org_code_fails_its_own_check_is_refused() -> None:
    # M000100Y is the reference body; its GB 11714 check character is 4, not 5.
    value = uscc("91350100M000100Y5")
    assert value == "91350100M000100Y56"
    assert refusal(check_uscc, value) == (
        "embedded organisation code M000100Y5 check character is 5, expected 4"
    )


def test_uscc_with_failing_embedded_org_code_is_a_warning_when_not_strict() -> None:
    parsed = check_uscc("91350100M000100Y56", strict_org_code=False)
    assert parsed.org_code_warning == (
        "embedded organisation code M000100Y5 check character is 5, expected 4"
    )


def test_reference_uscc_embedded_org_code_passes_gb_11714() -> None:
    # M=22, Y=34: 22*3 + 0*7 + 0*9 + 0*10 + 1*5 + 0*8 + 0*4 + 34*2 = 139;
    # 139 mod 11 = 7; 11 - 7 = 4, the embedded check character.
    assert org_check_char("M000100Y") == "4"
    assert check_org_code("M000100Y4") == OrgCode("M000100Y4", "M000100Y", "4")


# --------------------------------------------------------------------------- organisation code


def test_org_code_check_char_of_d2143569_is_x() -> None:
    # D=13: 13*3 + 2*7 + 1*9 + 4*10 + 3*5 + 5*8 + 6*4 + 9*2
    #     = 39 + 14 + 9 + 40 + 15 + 40 + 24 + 18 = 199;
    # 199 mod 11 = 1; 11 - 1 = 10 -> "X".
    assert org_check_char("D2143569") == "X"
    assert check_org_code("D2143569X") == OrgCode("D2143569X", "D2143569", "X")


def test_org_code_check_value_of_11_becomes_0() -> None:
    # All zeros weigh 0; 11 - 0 = 11 -> "0".
    assert org_check_char("00000000") == "0"


def test_org_code_check_value_below_10_is_the_digit() -> None:
    # 1*2 = 2; 11 - 2 = 9.
    assert org_check_char("00000001") == "9"


def test_org_code_in_lowercase_is_normalised_to_uppercase() -> None:
    assert check_org_code("d2143569x").value == "D2143569X"


def test_org_code_with_wrong_check_character_is_refused() -> None:
    assert refusal(check_org_code, "D21435691") == "check character is 1, expected X"


def test_org_code_with_a_letter_check_character_other_than_x_is_refused() -> None:
    assert refusal(check_org_code, "D2143569Y") == "check character must be a digit or X, got 'Y'"


def test_org_code_written_with_a_hyphen_is_refused_with_a_hint() -> None:
    assert refusal(check_org_code, "D2143569-X") == (
        "must be 9 characters without the hyphen, got 10"
    )


def test_org_code_with_wrong_length_is_refused() -> None:
    assert refusal(check_org_code, "D2143569") == "must be 9 characters, got 8"


def test_org_code_with_punctuation_in_the_body_is_refused() -> None:
    assert refusal(check_org_code, "D21#3569X") == "contains invalid character '#' at position 4"


# --------------------------------------------------------------------------- divisions


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [
        ("110000", "province", None),
        ("110100", "city", "110000"),
        ("110105", "county", "110100"),
        ("820000", "province", None),
        ("652901", "county", "652900"),
    ],
)
def test_division_level_and_parent_follow_from_the_zero_pairs(
    code: str, level: Literal["province", "city", "county"], parent: str | None
) -> None:
    assert check_division_code(code) == DivisionCode(code, level, parent)


def test_all_gb_t_2260_province_prefixes_are_known() -> None:
    assert sorted(PROVINCE_PREFIXES) == [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    ]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("990101", "division 990101 is not a GB/T 2260 province prefix (99)"),
        ("160000", "division 160000 is not a GB/T 2260 province prefix (16)"),
        ("000000", "division 000000 is not a GB/T 2260 province prefix (00)"),
        ("110001", "division 110001 has prefecture 00 but county 01, which GB/T 2260 never uses"),
        ("11010", "must be 6 digits, got 5 characters"),
        ("11010A", "must be 6 digits, got '11010A'"),
    ],
)
def test_invalid_division_code_is_refused(code: str, reason: str) -> None:
    assert refusal(check_division_code, code) == reason


# --------------------------------------------------------------------------- round trips


def test_two_hundred_generated_resident_ids_validate_and_a_flipped_check_fails() -> None:
    rng = random.Random(7)
    provinces = sorted(PROVINCE_PREFIXES)
    first, last = dt.date(1850, 1, 1).toordinal(), dt.date(2099, 12, 31).toordinal()
    for _ in range(200):
        division = f"{rng.choice(provinces)}{rng.randint(1, 99):02d}{rng.randint(1, 99):02d}"
        birth = dt.date.fromordinal(rng.randint(first, last))
        prefix = f"{division}{birth:%Y%m%d}{rng.randint(0, 999):03d}"
        check = resident_check_char(prefix)
        assert check_resident_id(prefix + check).birth_date == birth
        wrong = rng.choice([c for c in "0123456789X" if c != check])
        assert refusal(check_resident_id, prefix + wrong) == (
            f"check character is {wrong}, expected {check}"
        )


def test_two_hundred_generated_usccs_validate_and_a_flipped_check_fails() -> None:
    rng = random.Random(7)
    provinces = sorted(PROVINCE_PREFIXES)
    for _ in range(200):
        head = rng.choice(USCC_ALPHABET) + rng.choice(USCC_ALPHABET)
        division = f"{rng.choice(provinces)}{rng.randint(1, 99):02d}{rng.randint(0, 99):02d}"
        body = "".join(rng.choice(USCC_ALPHABET) for _ in range(8))
        prefix = head + division + body + org_check_char(body)
        check = uscc_check_char(prefix)
        assert check_uscc(prefix + check).check == check
        wrong = rng.choice([c for c in USCC_ALPHABET if c != check])
        assert refusal(check_uscc, prefix + wrong) == (
            f"check character is {wrong}, expected {check}"
        )


def test_two_hundred_generated_org_codes_validate_and_a_flipped_check_fails() -> None:
    rng = random.Random(7)
    for _ in range(200):
        body = "".join(rng.choice(string.digits + string.ascii_uppercase) for _ in range(8))
        check = org_check_char(body)
        assert check_org_code(body + check).check == check
        wrong = rng.choice([c for c in "0123456789X" if c != check])
        assert refusal(check_org_code, body + wrong) == (
            f"check character is {wrong}, expected {check}"
        )


# --------------------------------------------------------------------------- masking


def test_resident_id_is_masked_to_first_four_and_last_four() -> None:
    assert mask_resident_id("320102199001011234") == "3201**********1234"
    assert mask_resident_id(RESIDENT) == "1101**********002X"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("110105491231002", "1101*******1002"),
        ("123456789", "1234*6789"),
        ("12345678", "********"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_resident_id_of_other_lengths_is_masked(value: str, masked: str) -> None:
    assert mask_resident_id(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812341234", "138****1234"),
        ("12345678", "123*5678"),
        ("1234567", "*******"),
        ("", ""),
    ],
)
def test_phone_number_is_masked_to_first_three_and_last_four(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("张三丰", "张**"),
        ("张三", "张*"),
        ("张", "*"),
        ("Alice Wang", "A*********"),
        ("", ""),
    ],
)
def test_name_keeps_only_its_first_character(value: str, masked: str) -> None:
    assert mask_name(value) == masked


@pytest.mark.parametrize(
    ("kind", "value", "masked"),
    [
        ("resident_id", "320102199001011234", "3201**********1234"),
        ("phone", "13812341234", "138****1234"),
        ("name", "张三丰", "张**"),
        ("uscc", USCC, USCC),
        ("org_code", "D2143569X", "D2143569X"),
        ("division", "110105", "110105"),
        ("unknown", "abcde", "*****"),
    ],
)
def test_mask_identifier_masks_personal_data_and_passes_public_codes(
    kind: str, value: str, masked: str
) -> None:
    assert mask_identifier(kind, value) == masked


def test_mask_identifier_refuses_an_unknown_kind() -> None:
    assert refusal(mask_identifier, "passport", "E12345678") == "unknown identifier kind 'passport'"


# --------------------------------------------------------------------------- item codes


def test_item_type_tables_match_the_national_list() -> None:
    assert ITEM_TYPES == {
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
    assert ITEM_TYPE_NAMES_EN["03"] == "compulsory measure"
    assert ITEM_TYPE_NAMES_EN["20"] == "public service"
    assert set(ITEM_TYPE_NAMES_EN) == set(ITEM_TYPES)


def test_code_schemes_registry_holds_national_and_guizhou() -> None:
    assert sorted(CODE_SCHEMES) == ["guizhou", "national"]
    assert isinstance(CODE_SCHEMES["national"], NationalScheme)
    assert isinstance(CODE_SCHEMES["guizhou"], GuizhouScheme)
    assert CODE_SCHEMES["national"].length == 12
    assert CODE_SCHEMES["guizhou"].length == 10


def test_national_basic_code_is_split_into_type_main_sub_and_variant() -> None:
    code = check_basic_code("010001200301")
    assert code == BasicCode("010001200301", "national", "01", "00012", "003", "01")
    assert code.type_name == "行政许可"
    assert code.type_name_en == "licensing"


def test_guizhou_basic_code_maps_its_letters_to_the_national_type() -> None:
    code = check_basic_code("qr00012003", scheme="guizhou")
    assert code == BasicCode("QR00012003", "guizhou", "07", "00012", "003", None)
    assert code.type_name == "行政确认"


def test_basic_code_accepts_a_scheme_object() -> None:
    assert check_basic_code("GG00001001", scheme=GuizhouScheme()).type_code == "20"


@pytest.mark.parametrize(
    ("value", "scheme", "reason"),
    [
        (
            "990001200301",
            "national",
            "item type code 99 is not a national item type "
            "(known: 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 20)",
        ),
        (
            "XX00012003",
            "guizhou",
            "item type code XX is not a DB52/T 1264 type code "
            "(known: XK, CF, QZ, ZS, JF, JC, QR, JL, CJ, QT, GG)",
        ),
        ("01000120030", "national", "must be 12 characters, got 11"),
        ("0100012003A1", "national", "contains non-digit character 'A' at position 11"),
        ("XK0001200", "guizhou", "must be 10 characters, got 9"),
        ("1200012003", "guizhou", "item type code must be 2 letters, got '12'"),
        ("XK000120O3", "guizhou", "contains non-digit character 'O' at position 9"),
        ("010001200301", "shanghai", "unknown code scheme 'shanghai' (known: guizhou, national)"),
    ],
)
def test_invalid_basic_code_is_refused(value: str, scheme: str, reason: str) -> None:
    assert refusal(check_basic_code, value, scheme=scheme) == reason


def test_national_implementation_code_is_split_into_uscc_basic_code_and_sequence() -> None:
    code = check_implementation_code(USCC + "010001200301" + "000123")
    assert code.value == "91350100M000100Y43010001200301000123"
    assert code.uscc == check_uscc(USCC)
    assert code.basic == check_basic_code("010001200301")
    assert code.sequence == "000123"


def test_guizhou_implementation_code_uses_the_guizhou_basic_code() -> None:
    code = check_implementation_code(USCC.lower() + "xk00012003" + "7", scheme="guizhou")
    assert code.value == "91350100M000100Y43XK000120037"
    assert code.basic.type_code == "01"
    assert code.sequence == "7"


@pytest.mark.parametrize(
    ("value", "scheme", "reason"),
    [
        (USCC + "010001200301", "national", "must be 31 to 36 characters, got 30"),
        (USCC + "010001200301" + "1234567", "national", "must be 31 to 36 characters, got 37"),
        (USCC + "XK00012003", "guizhou", "must be 29 to 34 characters, got 28"),
        (
            "91350100M000100Y44" + "010001200301" + "1",
            "national",
            "USCC part: check character is 4, expected 3",
        ),
        (
            USCC + "990001200301" + "1",
            "national",
            "basic code part: item type code 99 is not a national item type "
            "(known: 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 20)",
        ),
        (
            USCC + "ZZ00012003" + "1",
            "guizhou",
            "basic code part: item type code ZZ is not a DB52/T 1264 type code "
            "(known: XK, CF, QZ, ZS, JF, JC, QR, JL, CJ, QT, GG)",
        ),
        (USCC + "010001200301" + "12A", "national", "sequence part 12A must be digits"),
    ],
)
def test_invalid_implementation_code_is_refused(value: str, scheme: str, reason: str) -> None:
    assert refusal(check_implementation_code, value, scheme=scheme) == reason


# --------------------------------------------------------------------------- identify


def test_identify_recognises_a_valid_resident_id_without_exposing_the_number() -> None:
    result = identify("11010519491231002x")
    assert result == Identification(
        kind="resident_id",
        valid=True,
        value=RESIDENT,
        reason=None,
        parts={
            "division": "110105",
            "birth_date": "1949-12-31",
            "sex": "female",
            "sequence": "002",
            "check": "X",
        },
    )
    assert RESIDENT not in result.parts.values()
    assert RESIDENT not in repr(result)


def test_identify_reports_a_date_like_resident_id_with_a_wrong_check() -> None:
    result = identify("110105194912310021")
    assert (result.kind, result.valid, result.reason) == (
        "resident_id",
        False,
        "check character is 1, expected X",
    )
    assert result.parts == {}


def test_identify_reports_a_resident_id_with_a_wrong_check_letter_as_a_resident_id() -> None:
    result = identify("11010519491231002Y")
    assert (result.kind, result.valid, result.reason) == (
        "resident_id",
        False,
        "last character must be a digit or X, got 'Y'",
    )


def test_identify_refuses_a_fifteen_digit_resident_id() -> None:
    result = identify("110105491231002")
    assert (result.kind, result.valid) == ("resident_id", False)
    assert result.reason == (
        "15-digit first-generation numbers are not accepted; the 18-character number is needed"
    )


def test_identify_recognises_a_valid_uscc() -> None:
    assert identify(USCC.lower()) == Identification(
        kind="uscc",
        valid=True,
        value=USCC,
        reason=None,
        parts={
            "registration_authority": "9 工商",
            "category": "1",
            "division": "350100",
            "org_code": "M000100Y4",
            "check": "3",
        },
    )


def test_identify_treats_all_digit_value_failing_resident_but_passing_uscc_as_uscc() -> None:
    # Positions 7-14 read 19900101, but the resident check character would be 1, not 5.
    value = "113101199001010425"
    assert refusal(check_resident_id, value) == "check character is 5, expected 1"
    result = identify(value)
    assert (result.kind, result.valid) == ("uscc", True)
    assert result.parts["registration_authority"] == "1 机构编制"
    assert result.parts["division"] == "310119"


def test_identify_treats_an_invalid_18_character_value_with_letters_as_uscc() -> None:
    result = identify("91350100M000100Y44")
    assert (result.kind, result.valid, result.reason) == (
        "uscc",
        False,
        "check character is 4, expected 3",
    )


def test_identify_recognises_an_org_code() -> None:
    assert identify("D2143569X") == Identification(
        "org_code", True, "D2143569X", None, {"body": "D2143569", "check": "X"}
    )


@pytest.mark.parametrize(
    ("code", "parts"),
    [
        ("110105", {"level": "county", "parent": "110100"}),
        ("110100", {"level": "city", "parent": "110000"}),
        ("110000", {"level": "province"}),
    ],
)
def test_identify_recognises_a_division(code: str, parts: dict[str, str]) -> None:
    assert identify(code) == Identification("division", True, code, None, parts)


def test_identify_recognises_a_basic_code() -> None:
    assert identify("020001200301") == Identification(
        "basic_code",
        True,
        "020001200301",
        None,
        {
            "scheme": "national",
            "type_code": "02",
            "type": "行政处罚 (penalty)",
            "main": "00012",
            "sub": "003",
            "variant": "01",
        },
    )


def test_identify_recognises_an_implementation_code() -> None:
    value = USCC + "200001200301" + "12"
    assert identify(value) == Identification(
        "implementation_code",
        True,
        value,
        None,
        {
            "uscc": USCC,
            "basic_code": "200001200301",
            "type": "公共服务 (public service)",
            "sequence": "12",
        },
    )


def test_identify_reports_an_unknown_five_character_value() -> None:
    assert identify("ABC12") == Identification(
        "unknown",
        False,
        "ABC12",
        "not a recognised identifier: expected 18 characters (resident ID or USCC), "
        "15 digits (first-generation resident ID), 9 characters (organisation code), "
        "6 digits (division), 12 digits (basic item code) "
        "or 31 to 36 characters (implementation code); got 5 characters",
        {},
    )


def test_identify_still_refuses_whitespace_after_recognising_the_kind() -> None:
    result = identify(f" {USCC}")
    assert (result.kind, result.valid, result.reason) == ("uscc", False, "contains whitespace")
