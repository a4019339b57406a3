"""Kubernetes manifests in deploy/k8s: they parse, are well-formed, and refer only to what exists.

Each object is also validated against the Kubernetes OpenAPI schemas shipped in the
`kubernetes-validate` wheel (PyPI) where that package is installed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.training.celery_app import QUEUES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
KUBERNETES_VERSION = "1.33"
WORKLOADS = {"Deployment", "StatefulSet"}


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def objects() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in manifest_files():
        found.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects() if o["kind"] == kind}


def containers(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in manifest_files())
    assert kustomization["namespace"] == "mlops"


def test_every_object_has_the_required_fields() -> None:
    seen = set()
    for obj in objects():
        assert {"apiVersion", "kind", "metadata"} <= obj.keys(), obj
        name = obj["metadata"]["name"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "mlops", name
        assert (obj["kind"], name) not in seen, name
        seen.add((obj["kind"], name))


def test_objects_match_the_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for obj in objects():
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_selectors_match_pod_labels() -> None:
    for kind in WORKLOADS:
        for name, workload in by_kind(kind).items():
            selector = workload["spec"]["selector"]["matchLabels"]
            labels = workload["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), name
    pods = [w["spec"]["template"]["metadata"]["labels"] for k in WORKLOADS for w in by_kind(k).values()]
    for name, service in by_kind("Service").items():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pods), name


def test_service_ports_name_container_ports() -> None:
    workloads = [w for k in WORKLOADS for w in by_kind(k).values()]
    for name, service in by_kind("Service").items():
        selector = service["spec"]["selector"]
        targets = [
            w for w in workloads if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        named = {p["name"] for w in targets for c in containers(w) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in named, (name, port)


def test_referenced_config_maps_and_secrets_exist() -> None:
    config_maps = by_kind("ConfigMap")
    secrets = {name: s.get("stringData", {}) | s.get("data", {}) for name, s in by_kind("Secret").items()}
    for kind in WORKLOADS:
        for name, workload in by_kind(kind).items():
            pod = workload["spec"]["template"]["spec"]
            for volume in pod.get("volumes", []):
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in config_maps, (name, volume)
            for container in containers(workload):
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        assert source["configMapRef"]["name"] in config_maps, name
                    if "secretRef" in source:
                        assert source["secretRef"]["name"] in secrets, name
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {})
                    if "secretKeyRef" in ref:
                        assert ref["secretKeyRef"]["key"] in secrets[ref["secretKeyRef"]["name"]], (name, env)
                    if "configMapKeyRef" in ref:
                        data = config_maps[ref["configMapKeyRef"]["name"]]["data"]
                        assert ref["configMapKeyRef"]["key"] in data, (name, env)


def test_hpas_target_existing_deployments() -> None:
    deployments = by_kind("Deployment")
    for name, hpa in by_kind("HorizontalPodAutoscaler").items():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments, name
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def _env(workload: dict[str, Any]) -> dict[str, Any]:
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_every_platform_process_is_deployed_with_probes() -> None:
    deployments = by_kind("Deployment")
    expected = {
        "gateway": "services.gateway.main",
        "dataset": "services.dataset.main",
        "training": "services.training.main",
        "registry": "services.registry.main",
        "serving": "services.serving.main",
    }
    services = by_kind("Service")
    for name, module in expected.items():
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", module]
        assert {"readinessProbe", "livenessProbe"} <= container.keys(), name
        assert name in services
        env = _env(deployments[name])
        assert env["MLOPS_DATABASE_URL"]["secretKeyRef"]["key"] == f"database-url-{name}"
        if name != "gateway":
            assert env["MLOPS_GRPC_HOST"] == "0.0.0.0"
    assert _env(deployments["gateway"])["MLOPS_IDENTITY_ADDRESS"] == "0.0.0.0:50050"
    serving_pools = {n for n in deployments if n.startswith("serving-worker-")}
    assert {"serving-worker-cpu", "serving-worker-gpu-a100", "serving-worker-gpu-l4"} <= serving_pools
    hpas = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind("HorizontalPodAutoscaler").values()}
    assert serving_pools <= hpas
    assert {"training-worker-cpu", "training-worker-gpu"} <= deployments.keys()
    # Pools the workers know: Celery queues for training, cpu or gpu for serving (a GPU type is a
    # Deployment's node selector, not a pool of its own).
    for name in serving_pools | {"training-worker-cpu", "training-worker-gpu"}:
        pool = name.split("-worker-", 1)[1].split("-", 1)[0]
        assert _env(deployments[name])["MLOPS_WORKER_POOL"] == pool, name
    assert {"cpu", "gpu"} <= set(QUEUES)


def test_gpu_workers_land_on_gpu_nodes() -> None:
    for name, workload in by_kind("Deployment").items():
        if "-gpu" not in name:
            continue
        pod = workload["spec"]["template"]["spec"]
        assert pod["nodeSelector"], name
        assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"]), name
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] >= 1, name


def test_nats_runs_jetstream_on_files_with_fsync_always() -> None:
    config = by_kind("ConfigMap")["nats-config"]["data"]["nats.conf"]
    jetstream = re.search(r"jetstream\s*\{(.*?)\}", config, re.S)
    assert jetstream is not None
    assert re.search(r"^\s*sync_interval:\s*always\s*$", jetstream.group(1), re.M)
    nats = by_kind("StatefulSet")["nats"]
    templates = {t["metadata"]["name"] for t in nats["spec"]["volumeClaimTemplates"]}
    mounts = {
        m["name"]: m["mountPath"] for m in nats["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    }
    store_dir = re.search(r"store_dir:\s*(\S+)", jetstream.group(1))
    assert store_dir is not None and "data" in templates and mounts["data"] == store_dir.group(1)
    routes = re.findall(r"nats://(nats-\d+)\.", config)
    assert len(routes) == nats["spec"]["replicas"]


def test_otel_collector_config_matches_compose() -> None:
    in_cluster = by_kind("ConfigMap")["otel-collector-config"]["data"]["config.yaml"]
    assert in_cluster == (ROOT / "deploy/otel-collector.yaml").read_text()


def _platform_processes() -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(Deployment name, module, its container's own env, that env over the shared ConfigMap)."""
    shared = by_kind("ConfigMap")["mlops-config"]["data"]
    for name, workload in by_kind("Deployment").items():
        container = workload["spec"]["template"]["spec"]["containers"][0]
        command = container.get("command", [])
        if command[:2] != ["python", "-m"]:
            continue
        from_config = any(
            s.get("configMapRef", {}).get("name") == "mlops-config" for s in container.get("envFrom", [])
        )
        assert from_config, name
        own = _env(workload)
        yield name, command[2], own, shared | own


def test_every_variable_set_is_a_setting_the_process_reads() -> None:
    from tests.unit.test_deploy_compose import read_by_some_process, unknown_env

    for name, module, own, _ in _platform_processes():
        assert unknown_env(module, set(own)) == set(), name
    # The shared ConfigMap reaches every process; each key must be read by at least one of them.
    shared = set(by_kind("ConfigMap")["mlops-config"]["data"])
    assert shared - read_by_some_process() == set()


def test_every_address_a_process_dials_points_at_its_service() -> None:
    from tests.unit.test_deploy_compose import SERVICE_ADDRESSES, address_errors

    services = by_kind("Service")
    for address in SERVICE_ADDRESSES.values():
        host, _, port = address.partition(":")
        assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}, address
    for name, module, _, env in _platform_processes():
        binds = {"MLOPS_IDENTITY_ADDRESS"} if name == "gateway" else set()
        assert address_errors(module, env, binds=binds) == [], name
