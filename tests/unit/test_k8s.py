"""deploy/k8s renders, for each overlay, a node of its own division that runs on the names,
settings and ports the code defines (rendered by `kubectl kustomize`; no cluster needed)."""

from __future__ import annotations

import shutil
import subprocess
import urllib.parse
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.contract.names import SERVICES
from services.platform.node import division
from services.platform.regions import DEFAULT_VHOST
from services.platform.settings import SETTINGS, Settings
from tests.support.infra import unavailable

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS = {"province": "320000", "city": "320100", "county": "320102"}
"""Each overlay, by the level of the division it deploys."""
EVERY = ["base", *OVERLAYS]
KNOWN = {s.env for s in SETTINGS}
SECRET = "govnet-node"
APIS = [f"{service}-api" for service in SERVICES]


def directory(name: str) -> Path:
    return K8S / name if name == "base" else K8S / "overlays" / name


@cache
def rendered(name: str) -> tuple[dict[str, Any], ...]:
    """What `kubectl kustomize` makes of the base or an overlay."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        unavailable("kubectl is not on PATH: the manifests in deploy/k8s cannot be rendered")
    result = subprocess.run(
        [str(kubectl), "kustomize", str(directory(name))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory(name)}:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(name: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered(name) if o["kind"] == kind}


def config_map(name: str) -> dict[str, Any]:
    (found,) = of_kind(name, "ConfigMap").values()
    return found


def settings_data(name: str) -> dict[str, str]:
    return {key: str(value) for key, value in config_map(name)["data"].items()}


def example_secret(level: str) -> dict[str, Any]:
    path = directory(level) / "secret.example.yaml"
    secret: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return secret


def pods(name: str) -> dict[str, dict[str, Any]]:
    """The pod spec of every Deployment and Job, by the object's name."""
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]
        for o in rendered(name)
        if o["kind"] in ("Deployment", "Job")
    }


def container(pod: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod["containers"]
    assert "initContainers" not in pod
    return dict(only)


def grpc_port(settings: Settings, service: str) -> int:
    return int(settings.grpc_address(service).rpartition(":")[2])


@pytest.mark.parametrize(("level", "code"), OVERLAYS.items())
def test_each_overlay_runs_its_own_division(level: str, code: str) -> None:
    assert settings_data(level)["GOVNET_DIVISION"] == code
    assert division(code).level == level
    for obj in rendered(level):
        assert obj["metadata"]["labels"]["govnet/division"] == code, obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["govnet/level"] == level


def test_the_base_leaves_the_division_to_the_overlays() -> None:
    assert "GOVNET_DIVISION" not in settings_data("base")


@pytest.mark.parametrize(("level", "code"), OVERLAYS.items())
def test_each_overlay_deploys_into_a_namespace_of_its_own(level: str, code: str) -> None:
    assert list(of_kind(level, "Namespace")) == [f"govnet-{code}"]
    for obj in rendered(level):
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == f"govnet-{code}", obj["metadata"]["name"]


@pytest.mark.parametrize(("level", "code"), OVERLAYS.items())
def test_each_node_connects_to_its_own_vhost(level: str, code: str) -> None:
    secret = example_secret(level)
    uri = urllib.parse.urlsplit(secret["stringData"]["GOVNET_AMQP_URI"])

    assert secret["metadata"] == {"name": SECRET, "namespace": f"govnet-{code}"}
    assert urllib.parse.unquote(uri.path.removeprefix("/")) == DEFAULT_VHOST.format(division=code)


@pytest.mark.parametrize("name", EVERY)
def test_no_credentials_are_rendered(name: str) -> None:
    assert of_kind(name, "Secret") == {}
    for key, value in settings_data(name).items():
        assert "://" not in value, f"{key} belongs in the {SECRET} Secret"


@pytest.mark.parametrize("name", EVERY)
def test_every_variable_a_container_sees_is_a_real_setting(name: str) -> None:
    settings = config_map(name)["metadata"]["name"]
    assert set(settings_data(name)) <= KNOWN
    for pod_name, pod in pods(name).items():
        assert pod["enableServiceLinks"] is False, f"{pod_name} gets Kubernetes' own variables"
        process = container(pod)
        assert process["envFrom"] == [{"configMapRef": {"name": settings}}]
        for variable in process["env"]:
            assert variable["name"] in KNOWN, f"{pod_name} sets {variable['name']}"
            reference = variable["valueFrom"]["secretKeyRef"]
            assert reference["name"] == SECRET
            assert reference["key"] == variable["name"]


@pytest.mark.parametrize(("level", "code"), OVERLAYS.items())
def test_the_settings_of_each_node_validate(level: str, code: str) -> None:
    secret = example_secret(level)["stringData"]
    required = {
        variable["name"]
        for pod in pods(level).values()
        for variable in container(pod)["env"]
        if not variable["valueFrom"]["secretKeyRef"].get("optional", False)
    }
    assert required <= set(secret) <= KNOWN

    settings = Settings.from_environment(settings_data(level) | secret)

    assert settings.division == code
    assert settings.node.level == level
    assert settings.database_url_for("audit") == (
        f"postgresql://govnet_{code}:CHANGE-ME@postgres.example:5432/govnet_{code}_audit"
    )


def test_the_base_listens_on_the_pods_address_and_seeds_no_sample_data() -> None:
    settings = Settings.from_environment(settings_data("base"))

    assert settings.grpc_host == "0.0.0.0"  # the probes and Services reach the pod's address
    assert settings.seed == "none"


@pytest.mark.parametrize("name", EVERY)
def test_every_service_has_a_worker_and_an_api(name: str) -> None:
    deployments = of_kind(name, "Deployment")

    assert sorted(deployments) == sorted(
        f"{s}-{kind}" for s in SERVICES for kind in ("worker", "api")
    )
    for service in SERVICES:
        for kind in ("worker", "api"):
            process = container(deployments[f"{service}-{kind}"]["spec"]["template"]["spec"])
            assert "command" not in process, "the image's entrypoint is govnet"
            assert process["args"] == [kind, service]
    (job,) = of_kind(name, "Job").values()
    assert container(job["spec"]["template"]["spec"])["args"] == ["node", "init"]


@pytest.mark.parametrize("name", EVERY)
def test_every_api_is_served_and_probed_on_its_settings_port(name: str) -> None:
    settings = Settings.from_environment(settings_data(name))
    services = of_kind(name, "Service")
    deployments = of_kind(name, "Deployment")

    assert sorted(services) == sorted(APIS)
    for service in SERVICES:
        port = grpc_port(settings, service)
        (exposed,) = services[f"{service}-api"]["spec"]["ports"]
        assert (exposed["port"], exposed["targetPort"]) == (port, "grpc")
        process = container(deployments[f"{service}-api"]["spec"]["template"]["spec"])
        assert process["ports"] == [{"name": "grpc", "containerPort": port}]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert process[probe]["grpc"] == {"port": port}, f"{service}-api {probe}"


@pytest.mark.parametrize("name", EVERY)
def test_every_pod_outlasts_its_shutdown_grace(name: str) -> None:
    grace = Settings.from_environment(settings_data(name)).shutdown_grace
    for pod_name, pod in pods(name).items():
        pause = container(pod).get("lifecycle", {}).get("preStop", {}).get("exec", {})
        paused = int(pause["command"][1]) if pause else 0
        # An API lets its calls finish (up to the grace), then publishes what they
        # committed (up to the grace again); the kubelet counts the preStop pause too.
        assert pod["terminationGracePeriodSeconds"] > paused + 2 * grace, pod_name


@pytest.mark.parametrize("name", EVERY)
def test_the_processes_run_unprivileged_writing_only_under_govnet_var(name: str) -> None:
    var = Settings.from_environment(settings_data(name)).var_dir
    for pod_name, pod in pods(name).items():
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        process = container(pod)
        assert process["securityContext"]["readOnlyRootFilesystem"] is True
        assert process["securityContext"]["allowPrivilegeEscalation"] is False
        scratch = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        mounted = {m["mountPath"]: m["name"] for m in process["volumeMounts"]}
        assert mounted.get(var) in scratch, f"{pod_name} cannot write to GOVNET_VAR"


@pytest.mark.parametrize("name", EVERY)
def test_the_workers_that_must_run_alone_never_run_two(name: str) -> None:
    # audit: the log has one writer; notifications: two would claim and send a message twice
    deployments = of_kind(name, "Deployment")
    for alone in ("audit-worker", "notifications-worker"):
        assert deployments[alone]["spec"]["replicas"] == 1, alone
        assert deployments[alone]["spec"]["strategy"] == {"type": "Recreate"}, alone


@pytest.mark.parametrize("name", EVERY)
def test_the_audit_key_is_the_nodes_own_from_its_secret(name: str) -> None:
    key_file = Path(Settings.from_environment(settings_data(name)).audit_key_file)
    for pod_name in ("audit-worker", "govnet-init"):
        pod = pods(name)[pod_name]
        (mount,) = [
            m for m in container(pod)["volumeMounts"] if m["mountPath"] == str(key_file.parent)
        ]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == "govnet-audit-key", pod_name


def test_a_county_runs_one_pod_per_api_and_the_province_the_most() -> None:
    def replicas(level: str) -> dict[str, int]:
        return {api: of_kind(level, "Deployment")[api]["spec"]["replicas"] for api in APIS}

    county, city, province = replicas("county"), replicas("city"), replicas("province")
    for api in APIS:
        assert county[api] == 1 < city[api] <= province[api], api
    assert sum(province.values()) > sum(city.values())
