"""What a person sees when the node cannot start: one clear line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.nodes import node_env
from tests.support.running import govnet


def test_no_broker_is_one_line_saying_how_to_get_one(tmp_path: Path) -> None:
    env = node_env(amqp_uri="amqp://guest:guest@127.0.0.1:1/", var_dir=tmp_path)
    result = govnet("node", "run", env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "govnet: no RabbitMQ broker answers at amqp://guest:***@127.0.0.1:1/"
    )
    assert "docker compose -f deploy/compose.yaml up -d rabbitmq" in lines[0]
    assert "apt install rabbitmq-server" in lines[0]


@pytest.mark.parametrize("kind", ["worker", "api"])
def test_a_single_process_without_a_broker_says_so_in_one_line(kind: str, tmp_path: Path) -> None:
    env = node_env(amqp_uri="amqp://guest:guest@127.0.0.1:1/", var_dir=tmp_path)
    result = govnet(kind, "audit", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "govnet: no RabbitMQ broker answers at amqp://guest:***@127.0.0.1:1/"
    )


def test_an_unknown_division_is_refused_naming_the_variable(tmp_path: Path) -> None:
    env = node_env(amqp_uri="amqp://guest:guest@127.0.0.1:1/", var_dir=tmp_path, division="320199")
    result = govnet("node", "run", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "govnet: invalid configuration:",
        "  GOVNET_DIVISION='320199': 320199 is a well-formed GB/T 2260 code but not a division "
        "in services/platform/data/divisions.csv (it holds the 110 Jiangsu divisions of 2017)",
    ]


def test_every_bad_setting_is_listed_at_once(tmp_path: Path) -> None:
    env = node_env(
        amqp_uri="http://localhost",
        var_dir=tmp_path,
        GOVNET_GRPC_PORT_BASE="fifty",
        GOVNET_LOG_LEVEL="loud",
    )
    result = govnet("config", "show", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "govnet: invalid configuration:",
        "  GOVNET_AMQP_URI='http://localhost': must be an amqp:// or amqps:// URI",
        "  GOVNET_GRPC_PORT_BASE='fifty': must be a whole number",
        "  GOVNET_LOG_LEVEL='loud': must be one of debug, info, warning, error",
    ]


def test_a_var_directory_that_is_a_file_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.write_text("")
    env = node_env(amqp_uri="amqp://guest:guest@127.0.0.1:1/", var_dir=var)

    result = govnet("catalog", "export", "--out", str(tmp_path / "catalog.jsonl"), env=env)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "govnet: invalid configuration:",
        f"  GOVNET_VAR={str(var)!r}: is a file, not a directory",
    ]
    assert not (tmp_path / "catalog.jsonl").exists()


def test_a_grpc_host_with_a_port_is_refused_naming_the_port_setting(tmp_path: Path) -> None:
    env = node_env(
        amqp_uri="amqp://guest:guest@127.0.0.1:1/",
        var_dir=tmp_path,
        GOVNET_GRPC_HOST="127.0.0.1:50051",
    )

    result = govnet("config", "show", env=env)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "govnet: invalid configuration:",
        "  GOVNET_GRPC_HOST='127.0.0.1:50051': must not include a port: give the host alone "
        "and the first port in GOVNET_GRPC_PORT_BASE",
    ]


def test_a_bad_yaml_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    config = tmp_path / "govnet.yaml"
    config.write_text("divison: 320102\nrelay_batch: 0\n", encoding="utf-8")
    env = node_env(amqp_uri="amqp://guest:guest@127.0.0.1:1/", var_dir=tmp_path)
    env.pop("GOVNET_DIVISION")
    env["GOVNET_CONFIG"] = str(config)
    result = govnet("config", "show", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "govnet: invalid configuration:",
        f"  divison in {config}: unknown setting (did you mean 'division'?)",
        f"  relay_batch in {config}='0': must be between 1 and 10000",
    ]


def test_a_worker_for_an_unknown_service_is_refused(tmp_path: Path) -> None:
    env = node_env(amqp_uri="amqp://guest:guest@127.0.0.1:1/", var_dir=tmp_path)
    result = govnet("worker", "billing", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "govnet: unknown service 'billing': choose from catalog, applications, notifications, "
        "audit or all"
    )


@pytest.mark.parametrize(
    ("code", "last_line"),
    [
        ("320102", "  name                   玄武区 (Xuanwu District)"),
        (
            "320199",
            "  note: well-formed, but not one of the divisions this project holds "
            "(services/platform/data/divisions.csv, 2017); no node can run as it",
        ),
    ],
)
def test_id_check_says_whether_a_division_is_one_a_node_can_run_as(
    code: str, last_line: str
) -> None:
    result = govnet("id", "check", code, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "division: valid"
    assert result.stdout.splitlines()[-1] == last_line


def test_id_check_explains_an_invalid_code() -> None:
    result = govnet("id", "check", "91350100M000100Y44", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "uscc: invalid: check character is 4, expected 3"


@pytest.mark.parametrize("command", [("worker", "audit"), ("node", "init"), ("audit", "key")])
def test_an_unusable_audit_key_file_is_one_line_naming_the_setting(
    command: tuple[str, ...], amqp_uri: str, tmp_path: Path
) -> None:
    key = tmp_path / "audit.pem"
    key.write_text("not a key")
    env = node_env(amqp_uri=amqp_uri, var_dir=tmp_path, GOVNET_AUDIT_KEY_FILE=str(key))

    result = govnet(*command, env=env)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"govnet: GOVNET_AUDIT_KEY_FILE={str(key)!r}: not an unencrypted PEM private key"
    ]


@pytest.mark.parametrize("command", [("worker", "notifications"), ("api", "notifications")])
def test_a_template_naming_a_field_the_event_lacks_stops_the_service_at_start(
    command: tuple[str, ...], amqp_uri: str, tmp_path: Path
) -> None:
    from services.notifications.templates import builtin_path

    text = (builtin_path() / "notifications.yaml").read_text("utf-8")
    broken = tmp_path / "templates.yaml"
    broken.write_text(text.replace("原因：{reason}。如有疑问", "原因：{reson}。如有疑问"), "utf-8")
    env = node_env(amqp_uri=amqp_uri, var_dir=tmp_path, GOVNET_TEMPLATES=str(broken))

    result = govnet(*command, env=env)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "govnet: bad notification templates:"
    assert lines[1].startswith(
        f"  {broken}: application.refused v1 zh-CN body: uses {{reson}}, which "
        "application.refused v1 does not have (it has: "
    )
    assert len(lines) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--nodes", "320100,320102"), "govnet: the province 320000 must be one of the nodes"),
        (("--nodes", "320000,3201"), "govnet: not divisions of 320000: 3201"),
        (("--province", "320100"), "govnet: 320100 is not a province in the divisions file"),
    ],
)
def test_a_region_of_nodes_that_cannot_be_is_refused_before_anything_starts(
    args: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    env = node_env(amqp_uri="amqp://guest:guest@127.0.0.1:1/", var_dir=tmp_path)
    result = govnet("region", "run", f"--dir={tmp_path / 'region'}", *args, env=env)
    assert (result.returncode, result.stderr.strip()) == (2, message)
    assert not (tmp_path / "region").exists()


def test_a_region_without_a_management_api_says_where_it_looked(tmp_path: Path) -> None:
    env = node_env(
        amqp_uri="amqp://guest:guest@127.0.0.1:1/",
        var_dir=tmp_path,
        GOVNET_RABBIT_ADMIN_URL="http://guest:guest@127.0.0.1:1",
    )
    result = govnet("region", "run", f"--dir={tmp_path / 'region'}", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "govnet: no RabbitMQ management API at http://127.0.0.1:1 ("
    )
    assert result.stderr.strip().endswith("`rabbitmq-plugins enable rabbitmq_management`")


def test_region_status_before_any_region_ran_says_how_to_start_one(tmp_path: Path) -> None:
    env = node_env(amqp_uri="amqp://guest:guest@127.0.0.1:1/", var_dir=tmp_path)
    result = govnet("region", "status", f"--dir={tmp_path}", env=env)
    assert (result.returncode, result.stderr.strip()) == (
        2,
        f"govnet: no {tmp_path}/topology/topology.json: start a region with "
        "`make run-region` first",
    )


@pytest.mark.parametrize(
    ("command", "prefix"),
    [
        (("catalog", "search", "许可"), "govnet catalog search: "),
        (("catalog", "conformance", "--json"), "govnet catalog conformance: "),
        (("demo",), "govnet demo: "),
        (("audit", "tail"), "govnet: "),
    ],
)
def test_a_client_command_without_a_running_node_says_so_on_stderr(
    command: tuple[str, ...], prefix: str, tmp_path: Path
) -> None:
    env = node_env(amqp_uri="amqp://guest:guest@127.0.0.1:1/", var_dir=tmp_path)
    result = govnet(*command, env=env)
    assert (result.returncode, result.stdout) == (1, "")
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"{prefix}no govnet API answers at ")
    assert line.endswith("; start a node with `make run`")
