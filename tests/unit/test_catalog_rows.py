"""What the catalog import's reading process prepares (services/catalog/rows.py,
services/catalog/reading.py): the stored texts are byte for byte what json.dumps gave
(they are hashed to tell an unchanged item, so a store made by an older version must see
the same digests), and batches cross to the writing process without losing or reordering
a line."""

from __future__ import annotations

import json
import pickle
import random
from dataclasses import replace

from services.catalog.domain import Department, Fee, Guide, Material
from services.catalog.reading import _batched, unbatched
from services.catalog.records import Line, RecordError
from services.catalog.rows import (
    ROW_COLUMNS,
    _fees_text,
    _materials_text,
    item_row,
    prepare,
    prepare_guide,
)
from services.catalog.sample import sample_records
from services.platform.node import division

# Quotes, backslashes, control characters (short and \\u escapes), DEL, the JavaScript line
# separators, Chinese and an astral-plane character: everything json.dumps treats specially.
ALPHABET = [chr(c) for c in range(0x20)] + list('"\\/ aZ\x7f\u2028\u2029中文é😀')


def test_item_texts_are_what_json_dumps_writes() -> None:
    rnd = random.Random(2017)

    def text() -> str:
        return "".join(rnd.choice(ALPHABET) for _ in range(rnd.randrange(12)))

    for _ in range(3000):
        materials = [Material(text(), rnd.random() < 0.5) for _ in range(rnd.randrange(4))]
        fees = [Fee(text(), text()) for _ in range(rnd.randrange(3))]
        assert _materials_text(materials) == json.dumps(
            [{"name": m.name, "required": m.required} for m in materials], ensure_ascii=False
        )
        assert _fees_text(fees) == json.dumps(
            [{"item": f.item, "standard": f.standard} for f in fees], ensure_ascii=False
        )


def test_a_prepared_row_holds_the_columns_in_order() -> None:
    province = division("320000")
    item = next(r for r in sample_records(province) if hasattr(r, "basic_code"))
    prepared = prepare(item, "320000")
    assert prepared.row == item_row(item, "320000")
    assert tuple(item_row(item, "320000")) == ROW_COLUMNS
    assert prepared.code == item.implementation_code
    assert prepared.item == item
    assert prepared.problems == ()


def test_batches_reach_the_writer_whole_and_in_file_order() -> None:
    province = division("320000")
    records = sample_records(province)
    items = [r for r in records if hasattr(r, "basic_code")]
    guide = Guide(items[0].implementation_code, acceptance_conditions="申请人为本省居民")
    department = next(r for r in records if isinstance(r, Department))
    bad_item = replace(items[1], type_code="99")
    prepared = [
        (2, *prepare(items[0], "320000").packed()),
        (3, *prepare(bad_item, "320000").packed()),
        (6, *prepare(items[2], "320000").packed()),
    ]
    others = [
        (1, department, None),
        (4, None, RecordError("", "not valid JSON")),
        (5, guide, None, prepare_guide(guide)),
    ]
    lines = unbatched(*_batched(prepared, others))
    assert [line.number for line in lines] == [1, 2, 3, 4, 5, 6]
    assert lines[0] == Line(1, department)
    assert lines[3].error == others[1][2]
    assert lines[4].record == guide
    assert lines[4].prepared == ([], prepare_guide(guide)[1])
    assert [lines[i].prepared.code for i in (1, 2, 5)] == [
        items[0].implementation_code,
        bad_item.implementation_code,
        items[2].implementation_code,
    ]
    assert lines[2].prepared.problems[0][0] == "type_code"
    assert lines[5].prepared.values == prepare(items[2], "320000").values


def test_a_line_in_error_crosses_to_the_writer_with_its_field_and_reason() -> None:
    """Batches cross between the processes pickled (a multiprocessing queue): a line in
    error keeps its field and reason (an exception pickles as its class called with its
    message alone, which RecordError cannot be built from)."""
    others = [
        (1, None, RecordError("", "not valid JSON")),
        (2, None, RecordError("legal_limit_days", "must be a whole number")),
    ]
    lines = unbatched(*pickle.loads(pickle.dumps(_batched([], others))))
    assert [(ln.number, ln.error.field, ln.error.reason) for ln in lines] == [  # type: ignore[union-attr]
        (1, "", "not valid JSON"),
        (2, "legal_limit_days", "must be a whole number"),
    ]
    assert str(lines[1].error) == "legal_limit_days: must be a whole number"
