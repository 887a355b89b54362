"""Benchmarks are run by `make bench` (pytest tests/bench -s), not by `make test`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bench.report import Report

_report = Report()


@pytest.fixture(scope="session")
def report() -> Iterator[Report]:
    yield _report
    _report.write()
    print("\n\n" + _report.markdown())
