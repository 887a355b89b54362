"""What `GOVNET_SEED` loads into an empty catalog when a node starts."""

from __future__ import annotations

from collections.abc import Iterable

from services.catalog.importer import ImportReport, Progress, import_generated, import_lines
from services.catalog.records import Line, Record
from services.catalog.store import CatalogStore

SEED_NUMBER = 2017
"""The generator seed of `GOVNET_SEED=province` (the year of the seed article)."""

GENERATED = {"province": ("province", SEED_NUMBER)}
"""Seeds that are synthetic catalogs: seed name -> (generator scale, generator seed number).
`province` is the seed article's scale: about 160,000 records."""


def seed_records(seed: str, store: CatalogStore) -> tuple[Iterable[Record], int]:
    """The records of a seed and how many there are (for a progress bar)."""
    if seed == "sample":
        from services.catalog.sample import sample_records

        records = sample_records(store.node)
        return records, len(records)
    if seed in GENERATED:
        from services.catalog.generator import expected_counts, generate

        scale, number = GENERATED[seed]
        total = sum(n for k, n in expected_counts(scale).items() if k != "deviations")
        return generate(scale, number), total
    raise ValueError(f"unknown seed {seed!r}")


def seed_catalog(
    store: CatalogStore, seed: str, progress: Progress | None = None
) -> ImportReport | None:
    """Import `seed` if the catalog is empty; None if there was nothing to do."""
    if seed == "none" or store.count():
        return None
    if seed in GENERATED:  # generated and prepared in a second process while this one writes
        scale, number = GENERATED[seed]
        return import_generated(store, scale, number, progress=progress)
    records, _ = seed_records(seed, store)
    lines = (Line(number, record) for number, record in enumerate(records, start=1))
    return import_lines(store, lines, progress=progress)
