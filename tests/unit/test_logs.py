"""Log lines: ID and phone numbers that reach a line by accident (a database error's text, an
exception message) are masked; the identifiers operators need are left alone."""

from __future__ import annotations

import json
import logging
import sys

from services.platform.logs import JsonFormatter, TextFormatter

DETAIL = (
    'duplicate key value violates unique constraint "cases_request_id_key"\n'
    "DETAIL:  Key (id_number, phone)=(320102198506120421, 13912345678) already exists."
)


def record_with(error: Exception, message: str = "unexpected error in %s") -> logging.LogRecord:
    try:
        raise error
    except Exception:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "services.test", logging.ERROR, __file__, 1, message, ("Submit",), exc_info
    )
    record.case_number = "320102-20261203-000042"
    return record


def test_a_json_line_masks_id_and_phone_numbers_in_the_error() -> None:
    line = JsonFormatter().format(record_with(RuntimeError(DETAIL)))
    out = json.loads(line)
    assert "320102198506120421" not in line
    assert "13912345678" not in line
    assert "(3201**********0421, 139****5678) already exists" in out["error"]
    assert out["case_number"] == "320102-20261203-000042"
    assert out["message"] == "unexpected error in Submit"


def test_a_text_line_masks_them_too_and_keeps_case_numbers_and_trace_ids() -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    line = TextFormatter().format(record_with(RuntimeError(f"{DETAIL} trace {trace}")))
    assert "320102198506120421" not in line
    assert "13912345678" not in line
    assert "3201**********0421" in line
    assert "case_number=320102-20261203-000042" in line
    assert trace in line


def test_a_number_at_the_start_of_a_line_is_masked_in_json_too() -> None:
    # JSON writes a line break as "\\n": masked after encoding, the number would follow an
    # "n" and no longer stand alone.
    record = record_with(RuntimeError("row:\n110101199003071234\t13812345678"), "failed for\n%s")
    record.args = ("110101199003071234",)
    line = JsonFormatter().format(record)
    assert "110101199003071234" not in line
    assert "13812345678" not in line
    out = json.loads(line)
    assert out["message"] == "failed for\n1101**********1234"
    assert out["error"].endswith("row:\n1101**********1234\t138****5678")
