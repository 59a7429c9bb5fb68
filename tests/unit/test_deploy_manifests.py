"""The Kubernetes manifests (deploy/kubernetes, issue 12) against the Kubernetes JSON schemas,
strictly (an unknown field fails), with kubernetes-validate (PyPI; it ships the schemas, so
this needs no network); and every RISKSTREAM_* name in them and in docs/deploy.md is a
setting, so the documentation cannot drift from the code."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from riskstream.config import SECRET_FIELDS, Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
DOCS = ROOT / "docs" / "deploy.md"
# the oldest Kubernetes still commonly run, and the newest the package knows
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
SETTINGS = frozenset(f"RISKSTREAM_{name.upper()}" for name in Settings.model_fields) | {
    f"RISKSTREAM_{name.upper()}_FILE"
    for name in SECRET_FIELDS  # a secret's file
}


def resources() -> list[tuple[str, dict[str, Any]]]:
    """(file name, resource) of every Kubernetes resource in deploy/kubernetes."""
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue  # kustomize's own file, not a resource: checked below
        found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def test_there_are_manifests_for_a_deployment() -> None:
    kinds = {doc["kind"] for _, doc in resources()}
    assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Secret"} <= kinds


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("name", "resource"), resources(), ids=lambda v: str(v)[:40])
def test_every_manifest_passes_the_strict_schema(
    name: str, resource: dict[str, Any], version: str
) -> None:
    kubernetes_validate.validate(resource, version, strict=True)


def deployment() -> dict[str, Any]:
    return next(doc for _, doc in resources() if doc["kind"] == "Deployment")


@pytest.mark.parametrize(
    "path",
    [("spec", "replica"), ("spec", "template", "spec", "containers", 0, "imagePullPolicyy"),
     ("spec", "template", "spec", "securityContext", "runAsNonroot")],
)  # fmt: skip
def test_a_misspelled_field_fails(path: tuple[str | int, ...]) -> None:
    broken = copy.deepcopy(deployment())
    parent: Any = broken
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_a_wrong_type_fails() -> None:
    broken = copy.deepcopy(deployment())
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_resource_file_but_the_secret_example() -> None:
    listed = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    files = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(listed) == sorted(files - {"secret.example.yaml"})


def test_every_riskstream_name_in_the_manifests_and_docs_is_a_setting() -> None:
    texts = [p.read_text() for p in MANIFESTS.glob("*.yaml")] + [DOCS.read_text()]
    names = {n for text in texts for n in re.findall(r"\bRISKSTREAM_[A-Z0-9_]*[A-Z0-9]", text)}
    unknown = names - SETTINGS
    assert not unknown, f"not settings: {sorted(unknown)}"
    assert "RISKSTREAM_CHECKPOINT_KEY" in names
    assert "RISKSTREAM_WEB_HOST" in names


def test_secrets_come_from_secrets_and_the_worker_is_locked_down() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    worker = pod["containers"][0]
    by_name = {e["name"]: e for e in worker["env"]}
    for secret in ("RISKSTREAM_API_TOKEN", "RISKSTREAM_CHECKPOINT_KEY",
                   "RISKSTREAM_KAFKA_SASL_PASSWORD", "RISKSTREAM_REDIS_URL"):  # fmt: skip
        assert "secretKeyRef" in by_name[secret]["valueFrom"], secret
    assert by_name["RISKSTREAM_WEB_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in worker["volumeMounts"]}
    assert worker["workingDir"] in mounts  # Faust writes <group>-data there
    config = next(doc for _, doc in resources() if doc["kind"] == "ConfigMap")["data"]
    assert config["RISKSTREAM_REPLICATION_FACTOR"] == "3"
    assert config["RISKSTREAM_MIN_INSYNC_REPLICAS"] == "2"
    assert config["RISKSTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["RISKSTREAM_REDIS_MODE"] == "cluster"
    assert not any(k in config for k in ("RISKSTREAM_API_TOKEN", "RISKSTREAM_CHECKPOINT_KEY"))
