"""deploy/kubernetes/ holds together: the labels select the pods, the probes and the Service
reach the port the config opens, on paths the bridge serves, the Secret's keys are the files
the config reads, the ConfigMap's bridge.yaml validates, a pod outlives its drain, and KEDA
never runs more instances than there are partitions."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.config import BridgeConfig, parse_config
from bridge.observability.health import Verdict
from bridge.observability.http import HttpServer

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes"
KEDA = KUBE / "keda"
POD_NAME = "gameball-bridge-7d9f8c6b5-x2k4q"  # what metadata.name gives a Deployment's pod

_FILE_REF = re.compile(r"\$\{file:(?P<path>[^}]+)\}")
_ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<default>:-[^}]*)?\}")


def _load(path: Path) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert len(docs) == 1, f"{path.name}: expected one document, found {len(docs)}"
    assert isinstance(docs[0], dict)
    return docs[0]


def _manifest(name: str) -> dict[str, Any]:
    return _load(KUBE / name)


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["bridge"]
    return dict(containers[0])


def _pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    return dict(deployment["spec"]["template"]["metadata"]["labels"])


def _bridge_yaml() -> str:
    return str(_manifest("configmap.yaml")["data"]["bridge.yaml"])


def _strings(value: Any) -> Iterator[str]:
    """Every string in parsed YAML (so commented-out examples do not count)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def _config_mount() -> tuple[str, dict[str, Any]]:
    """The config volume's mount path and the volume."""
    deployment = _manifest("deployment.yaml")
    mounts = {m["name"]: m for m in _container(deployment)["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    return str(mounts["config"]["mountPath"]), volumes["config"]


def _projected(kind: str) -> list[dict[str, Any]]:
    """The projected config volume's sources of one kind (configMap, secret)."""
    return [s[kind] for s in _config_mount()[1]["projected"]["sources"] if kind in s]


def _container_env() -> dict[str, str]:
    """The container's environment as the pod would see it."""
    env: dict[str, str] = {}
    for var in _container(_manifest("deployment.yaml"))["env"]:
        if "value" in var:
            env[var["name"]] = str(var["value"])
        else:
            assert var["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, var
            env[var["name"]] = POD_NAME
    return env


def _parsed_config(tmp_path: Path) -> BridgeConfig:
    """The ConfigMap's bridge.yaml parsed as the pod would: the container's env, and the
    Secret's values written where the mount puts them (under tmp_path instead of /)."""
    mount, _ = _config_mount()
    stringdata = _manifest("secret.yaml")["stringData"]
    root = tmp_path / mount.lstrip("/")
    for source in _projected("secret"):
        for item in source["items"]:
            target = root / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(stringdata[item["key"]])
    data = yaml.safe_load(_bridge_yaml().replace(f"${{file:{mount}/", f"${{file:{root}/"))
    return parse_config(data, source="configmap.yaml", env=_container_env(), base_dir=root)


def _port_number(port: int | str) -> int:
    """A probe's or a Service's port (a name or a number) as the container's port number."""
    ports = {
        p["name"]: p["containerPort"] for p in _container(_manifest("deployment.yaml"))["ports"]
    }
    return int(ports[port]) if isinstance(port, str) else port


# --- kustomize ---------------------------------------------------------------------------


def test_the_kustomization_lists_every_manifest_and_keda_stays_out_of_the_default() -> None:
    base = _manifest("kustomization.yaml")
    assert base["kind"] == "Kustomization"
    assert sorted(base["resources"]) == sorted(
        p.name for p in KUBE.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    component = _load(KEDA / "kustomization.yaml")
    assert component["kind"] == "Component"
    assert sorted(component["resources"]) == sorted(
        p.name for p in KEDA.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    assert "keda" not in str(base.get("components", []))
    assert {p.suffix for p in KUBE.rglob("*") if p.is_file()} == {".yaml"}  # no .yml strays


def _kustomize(folder: Path) -> list[dict[str, Any]]:
    built = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    return [d for d in yaml.safe_load_all(built.stdout) if d]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_default_and_an_overlay_with_the_keda_component(
    tmp_path: Path,
) -> None:
    # kustomize refuses absolute paths to a base: a copy, with an overlay beside it.
    shutil.copytree(KUBE, tmp_path / "base")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "resources: [../base]\ncomponents: [../base/keda]\n"
    )
    base = {d["kind"]: d for d in _kustomize(tmp_path / "base")}
    assert set(base) == {"ConfigMap", "Secret", "Deployment", "PodDisruptionBudget", "Service"}
    assert base["Deployment"]["spec"]["replicas"] >= 2
    assert _container(base["Deployment"])["image"].startswith("registry.example.com/")
    scaled = {d["kind"]: d for d in _kustomize(overlay)}
    assert set(scaled) == set(base) | {"ScaledObject"}
    # KEDA owns the replica count: an applied `replicas` would reset it at every apply.
    assert "replicas" not in scaled["Deployment"]["spec"]


# --- labels, ports, probes ---------------------------------------------------------------


def test_the_deployment_pdb_and_service_select_the_pods() -> None:
    deployment = _manifest("deployment.yaml")
    selector = deployment["spec"]["selector"]["matchLabels"]
    pods = _pod_labels(deployment)
    assert selector.items() <= pods.items()
    assert _manifest("pdb.yaml")["spec"]["selector"]["matchLabels"] == selector
    assert _manifest("service.yaml")["spec"]["selector"] == selector
    for spread in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]:
        assert spread["labelSelector"]["matchLabels"] == selector
    for doc in [*(_manifest(n) for n in _manifest("kustomization.yaml")["resources"])]:
        assert doc["metadata"]["labels"].items() <= pods.items(), doc["metadata"]["name"]


def test_probes_and_the_service_reach_the_port_the_config_opens(tmp_path: Path) -> None:
    config = _parsed_config(tmp_path)
    deployment = _manifest("deployment.yaml")
    container = _container(deployment)
    assert [p["containerPort"] for p in container["ports"]] == [config.observability.port]
    assert config.observability.host == "0.0.0.0"  # a probe comes from the kubelet, not lo
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert _port_number(container[probe]["httpGet"]["port"]) == config.observability.port
    (service_port,) = _manifest("service.yaml")["spec"]["ports"]
    assert _port_number(service_port["targetPort"]) == config.observability.port
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == config.observability.port
    assert annotations["prometheus.io/path"] == "/metrics"


class _Healthy:
    def health(self) -> Verdict:
        return Verdict(True, ())

    def readiness(self) -> Verdict:
        return Verdict(True, ())

    def metrics(self) -> tuple[bytes, str]:
        return b"", "text/plain"


def test_probe_paths_are_the_ones_the_bridge_serves() -> None:
    container = _container(_manifest("deployment.yaml"))
    paths = {probe: container[probe]["httpGet"]["path"] for probe in container if "Probe" in probe}
    # Liveness on /healthz (a stalled loop, which a restart heals), never on /readyz: an
    # unready bridge (Gameball down) must not be restarted.
    assert paths == {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    server = HttpServer(_Healthy(), "127.0.0.1", 0)
    server.start()
    try:
        for path in paths.values():
            url = f"http://127.0.0.1:{server.port}{path}"
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200, path
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=5)
        with missing.value:
            assert missing.value.code == 404  # so a path the bridge does not serve fails
    finally:
        server.stop()


def test_the_pod_runs_as_the_images_user() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    uid = int(re.search(r"useradd\b[^\n]*--uid (\d+)", dockerfile).group(1))  # type: ignore[union-attr]
    pod = _manifest("deployment.yaml")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    container = _container(_manifest("deployment.yaml"))
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "memory" in container["resources"]["limits"]
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()


# --- the config, its secrets, its timings ------------------------------------------------


def test_the_secret_keys_are_the_files_the_config_reads() -> None:
    mount, _ = _config_mount()
    config = yaml.safe_load(_bridge_yaml())
    read = {m.group("path") for s in _strings(config) for m in _FILE_REF.finditer(s)}
    (source,) = _projected("secret")
    secret = _manifest("secret.yaml")
    assert source["name"] == secret["metadata"]["name"]
    mounted = {f"{mount}/{item['path']}": item["key"] for item in source["items"]}
    assert read == set(mounted)
    assert set(mounted.values()) == set(secret["stringData"])
    assert "data" not in secret  # placeholders in stringData only, never base64 in `data`


def test_the_config_is_mounted_where_the_container_reads_it() -> None:
    mount, _ = _config_mount()
    (source,) = _projected("configMap")
    assert source["name"] == _manifest("configmap.yaml")["metadata"]["name"]
    (item,) = source["items"]
    assert item["key"] == "bridge.yaml"
    args = _container(_manifest("deployment.yaml"))["args"]
    assert args[0] == "run"
    assert args[args.index("--config") + 1] == f"{mount}/{item['path']}"


def test_the_configmaps_bridge_yaml_validates_with_the_pods_env_and_secrets(
    tmp_path: Path,
) -> None:
    env = _container_env()
    config = yaml.safe_load(_bridge_yaml())
    required = {
        m.group("name")
        for s in _strings(config)
        for m in _ENV_REF.finditer(s)
        if m.group("default") is None
    }
    assert required <= env.keys()
    parsed = _parsed_config(tmp_path)
    secret = _manifest("secret.yaml")["stringData"]
    assert parsed.gameball.api_key.get_secret_value() == secret["gameball-api-key"]
    assert parsed.gameball.rate_limits.share == "auto"  # no share per replica count
    assert parsed.kafka.properties["client.id"] == POD_NAME
    assert parsed.kafka.instance_id == POD_NAME  # static membership: the pod's name


def test_a_pod_is_killed_only_after_its_drain(tmp_path: Path) -> None:
    drain = _parsed_config(tmp_path).delivery.drain_timeout
    grace = _manifest("deployment.yaml")["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ]
    # Beyond the drain: the final commit and leaving the group take a few seconds more.
    assert grace >= drain + 5, (grace, drain)


# --- KEDA --------------------------------------------------------------------------------


def test_keda_scales_the_bridges_group_and_never_past_the_partition_count(
    tmp_path: Path,
) -> None:
    scaled = _load(KEDA / "scaledobject.yaml")
    config = _parsed_config(tmp_path)
    spec = scaled["spec"]
    partitions = int(scaled["metadata"]["annotations"]["gameball-bridge/partitions"])
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
    assert spec["scaleTargetRef"]["name"] == _manifest("deployment.yaml")["metadata"]["name"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert meta["consumerGroup"] == config.kafka.group_id
    assert meta["topic"] in {t for m in config.mappings for t in m.topics}
    assert meta["offsetResetPolicy"] == config.kafka.auto_offset_reset
    assert meta["bootstrapServersFromEnv"] in _container_env()
    assert meta["allowIdleConsumers"] == "false"
