"""The README's examples are executed, so they cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.audit.store import AuditStore
from services.contract.schemas import default_registry
from services.platform.store import Database
from tests.support.nodes import node_env, processes
from tests.support.waiting import wait_for

README = Path(__file__).resolve().parents[2] / "README.md"


def example(name: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- example: {name} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"README.md has no example named {name}"
    return match.group(1)


@pytest.fixture(scope="module")
def audit_node(amqp_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditStore]:
    var = tmp_path_factory.mktemp("var")
    env = node_env(amqp_uri=amqp_uri, var_dir=var)
    db = Database(
        f"sqlite:///{var}/320000/audit.db",
        service="audit",
        division="320000",
        registry=default_registry(),
    )
    with processes([("worker", ["audit"])], env, var / "run"):
        yield AuditStore(db)
    db.dispose()


def test_the_department_publishing_example_is_accepted_and_audited(
    amqp_uri: str, audit_node: AuditStore
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", example("department-publish")],
        env={"GOVNET_AMQP_URI": amqp_uri, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    event_id = result.stdout.split()[-1]
    [entry] = wait_for(
        lambda: [e for e in audit_node.events(page_size=1000) if e.event_id == event_id],
        what="the README's event in the audit log",
    )
    assert (entry.type, entry.subject, entry.sequence) == (
        "evaluation.submitted",
        "320000-20261126-000001",
        1,
    )


def test_the_catalog_format_example_is_a_valid_catalog() -> None:
    from services.catalog import domain
    from services.catalog.records import read_jsonl

    text = (README.parent / "docs" / "catalog-format.md").read_text(encoding="utf-8")
    block = re.search(r"## Example\n\n```json\n(.*?)```", text, re.S)
    assert block, "docs/catalog-format.md has no example"
    lines = list(read_jsonl(block.group(1).splitlines()))
    assert [line.error for line in lines] == [None, None]
    item = lines[1].record
    assert domain.item_violations(item) == []  # type: ignore[arg-type]
