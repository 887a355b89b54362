"""`GOVNET_SEED=province`: the first `govnet node init` of a node loads the generated
catalog into its empty catalog; a second loads nothing.

What this proves, and how cheaply: the whole province scale (158,797 records) takes about a
minute of two busy cores (measured: 53 s for `govnet node init`, every record created), so
the test runs the same command, settings, functions and reader process with the generator's
small scale standing in for the province scale (`seeding.GENERATED`): only the size
differs. The province scale's figures and validity are the generator's tests
(tests/unit/test_catalog_generator.py); the mapping of the seed to that scale is checked
here without generating it.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from services.catalog import seeding
from services.catalog.domain import Guide, Item
from services.catalog.generator import expected_counts, generate
from services.catalog.store import CatalogStore
from services.cli import cli
from services.contract.schemas import default_registry
from services.platform.store import Database
from tests.support.nodes import node_env


def test_the_province_seed_is_the_seed_articles_scale() -> None:
    assert seeding.GENERATED["province"] == ("province", 2017)
    assert sum(expected_counts("province").values()) == 158_797


@pytest.fixture
def small_province_seed(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """GOVNET_SEED=province loads the small scale of the same generator."""
    monkeypatch.setitem(seeding.GENERATED, "province", ("small", seeding.SEED_NUMBER))
    return expected_counts("small")


def test_node_init_with_the_province_seed_loads_it_once(
    amqp_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    small_province_seed: dict[str, int],
) -> None:
    var = tmp_path / "var"
    env = node_env(amqp_uri=amqp_uri, var_dir=var, division="320000", GOVNET_SEED="province")
    for name in [n for n in os.environ if n.startswith("GOVNET_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    total = sum(small_province_seed.values())

    first = CliRunner().invoke(cli, ["node", "init"])

    assert first.exit_code == 0, first.output
    assert first.output.strip() == f"node 320000 initialised; seeded: {{'catalog': {total}}}"
    store = CatalogStore(
        Database(
            f"sqlite:///{var}/320000/catalog.db",
            service="catalog",
            division="320000",
            registry=default_registry(),
        )
    )
    try:
        assert {
            "department": len(list(store.departments())),
            "item": store.count(),
            "guide": len(list(store.guides())),
        } == small_province_seed
        with store.db.read() as conn:
            outbox = store.db.outbox
            announced = Counter(conn.execute(select(outbox.c.exchange, outbox.c.type)).all())
    finally:
        store.db.dispose()
    # Every provincial item and guide is announced to this node's services, and the items
    # go down to the cities and counties as their standards.
    records = list(generate("small", seeding.SEED_NUMBER))
    items = sum(1 for r in records if isinstance(r, Item) and r.division == "320000")
    guides = sum(1 for r in records if isinstance(r, Guide))
    assert announced == {
        ("catalog.events", "item.published"): items,
        ("catalog.events", "guide.published"): guides,
        ("catalog.standards", "item.published"): items,
    }

    again = CliRunner().invoke(cli, ["node", "init"])

    assert again.exit_code == 0, again.output
    assert again.output.strip() == "node 320000 initialised; seeded: nothing"
