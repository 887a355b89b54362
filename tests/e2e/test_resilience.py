"""A node keeps working when the broker drops every connection (as in a broker restart)."""

from __future__ import annotations

import pytest

from tests.support import infra
from tests.support.nodes import node_env
from tests.support.running import govnet, running_node
from tests.support.waiting import wait_for


def test_the_node_reconnects_after_the_broker_drops_every_connection(
    broker: infra.Broker, vhost: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = node_env(amqp_uri=broker.uri_for(vhost), var_dir=tmp_path_factory.mktemp("var"))
    with running_node(env) as node:
        before = govnet("demo", env=env)
        assert before.returncode == 0, before.stdout + before.stderr
        # Each worker consumes; wait until the broker lists those connections, then drop all.
        wait_for(lambda: len(infra.connections(broker, vhost)) >= 4, what="connections listed")
        assert infra.close_connections(broker, vhost) >= 4

        # The workers' consumers come back by themselves.
        wait_for(
            lambda: broker.queue(vhost, "notifications.applications").get("consumers") == 1,
            timeout=30,
            what="the notifications consumer to reconnect",
        )
        after = govnet("demo", "--timeout", "30", env=env)
        assert after.returncode == 0, after.stdout + after.stderr
        code = node.stop()
    assert code == 0, node.output()
