"""deploy/: the Kubernetes manifests validate against the Kubernetes schemas (bundled by kubernetes-validate, no
network), and say what the README's "Scaling out" promises: a gateway with an OPA sidecar loading policies/ as a
bundle, probes, resources sized from the benchmarks, autoscaling, a disruption budget, egress only to the
agencies, Redis and DNS, metrics off the public Service; and an image that runs as no one in particular, in
production mode, without the development keys."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "kubernetes"
RESULTS = DEPLOY.parent / "bench" / "results"
VERSIONS = ("1.29.0", "1.33.0")  # a supported range of clusters


def resources() -> list[dict[str, Any]]:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    return [doc for name in listed for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def one(kind: str, name: str) -> dict[str, Any]:
    [found] = [r for r in resources() if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def container(name: str) -> dict[str, Any]:
    [found] = [c for c in one("Deployment", "wardgate")["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return found


def mib(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_kubernetes(version: str) -> None:
    kinds = []
    for resource in resources():
        kubernetes_validate.validate(resource, version, strict=True)
        kinds.append(resource["kind"])
    assert set(kinds) >= {
        "Deployment",
        "Service",
        "StatefulSet",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }


def test_the_validator_refuses_a_misspelt_field() -> None:
    broken = copy.deepcopy(one("Deployment", "wardgate"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = broken["spec"]["template"]["spec"][
        "containers"
    ][0].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_the_gateway_asks_an_opa_sidecar_that_loads_this_images_policies_as_a_bundle() -> None:
    pod = one("Deployment", "wardgate")["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["gateway", "opa"]
    opa = container("opa")
    assert opa["args"][:2] == ["run", "--server"] and "--addr=127.0.0.1:8181" in opa["args"]
    assert opa["args"][opa["args"].index("--bundle") + 1] == "/policies"
    [init] = pod["initContainers"]
    assert init["image"] == container("gateway")["image"] and "/app/policies" in " ".join(init["command"])
    settings = one("ConfigMap", "wardgate-settings")["data"]
    assert settings["WARDGATE_POLICY_ENGINE"] == "opa" and settings["WARDGATE_OPA_PUSH_POLICIES"] == "false"
    assert settings["WARDGATE_OPA_URL"] == "http://127.0.0.1:8181"


def test_every_setting_the_manifests_give_is_one_the_gateway_reads() -> None:
    fields = {f"WARDGATE_{name.upper()}" for name in Settings.model_fields}
    given = set(one("ConfigMap", "wardgate-settings")["data"]) | {e["name"] for e in container("gateway")["env"]}
    assert given <= fields, given - fields
    data = one("ConfigMap", "wardgate-settings")["data"]
    assert data["WARDGATE_WORKERS"] == "1"  # pods scale, and each audit chain keeps one writing process
    for key in ("WARDGATE_CACHE_URL", "WARDGATE_RATE_LIMIT_STORAGE", "WARDGATE_BREAKER_URL"):
        assert "wardgate-redis:6379" in data[key]


def test_probes_and_each_instance_names_its_own_audit_chain() -> None:
    gateway = container("gateway")
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    [instance] = [e for e in gateway["env"] if e["name"] == "WARDGATE_INSTANCE"]
    assert instance["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    [audit] = [m for m in gateway["volumeMounts"] if m["name"] == "audit"]
    assert audit["mountPath"] == "/var/lib/wardgate/audit"
    claim = one("PersistentVolumeClaim", "wardgate-audit")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # every pod's chain where `wardgate audit` reads them


def test_resources_are_sized_from_the_benchmarks() -> None:
    cost = json.loads((RESULTS / "gateway.json").read_text())["cost"]
    soak = json.loads((RESULTS / "soak.json").read_text())
    wanted = container("gateway")["resources"]
    # One worker, agencies answering at once, is CPU-bound: requests/s x CPU per request is about one core.
    assert cost["rps"] * cost["cpu_ms_per_request"] / 1000 == pytest.approx(1.0, abs=0.1)
    assert cores(wanted["requests"]["cpu"]) == 1.0
    # Memory: the soak's highest RSS fits the request; the limit leaves twice that.
    assert soak["rss_mb"]["max"] <= mib(wanted["requests"]["memory"]) and soak["pass"]["memory_flat"]
    assert mib(wanted["limits"]["memory"]) >= 2 * soak["rss_mb"]["max"]
    hpa = one("HorizontalPodAutoscaler", "wardgate")["spec"]
    pdb = one("PodDisruptionBudget", "wardgate")["spec"]
    assert hpa["minReplicas"] >= 2 and pdb["minAvailable"] == hpa["minReplicas"] - 1
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] <= 70


def test_metrics_are_not_on_the_public_service() -> None:
    public = one("Service", "wardgate")["spec"]["ports"]
    assert [p["targetPort"] for p in public] == ["http"]
    operator = one("Service", "wardgate-operator")["spec"]["ports"]
    assert [p["port"] for p in operator] == [9464]


def test_the_gateway_reaches_only_the_agencies_redis_and_dns() -> None:
    policy = one("NetworkPolicy", "wardgate-gateway")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    ports = []
    for rule in policy["egress"]:
        assert rule.get("to"), "a rule without `to` would allow every destination"
        for peer in rule["to"]:
            assert peer.get("ipBlock", {}).get("cidr") not in ("0.0.0.0/0", "::/0")
        ports += [p["port"] for p in rule["ports"]]
    assert sorted(ports) == [53, 53, 443, 6379]
    [redis_rule] = [r for r in policy["egress"] if r["ports"][0]["port"] == 6379]
    assert redis_rule["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "redis"
    metrics = [r for r in policy["ingress"] if r["ports"][0]["port"] == 9464]
    assert metrics and all(r.get("from") for r in metrics)


def test_the_image_runs_as_no_one_in_production_without_development_keys() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    final = dockerfile.rsplit("\nFROM ", 1)[1]  # the stage that ships
    [user] = re.findall(r"^USER (\S+)", final, re.M)
    assert user.split(":")[0] not in ("root", "0") and user.split(":")[0].isdigit()
    assert re.search(r"WARDGATE_MODE=production", final)
    assert "rm -rf /opt/wardgate/lib/python3.11/site-packages/gateway/dev/devkeys" in dockerfile
    assert not re.search(r"^COPY .*(devkeys|tests|\.venv)", dockerfile, re.M)
    envs = set(re.findall(r"(WARDGATE_[A-Z_]+)=", final))
    assert envs <= {f"WARDGATE_{name.upper()}" for name in Settings.model_fields}
