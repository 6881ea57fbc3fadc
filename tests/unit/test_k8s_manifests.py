"""deploy/k8s: every overlay renders offline, validates against the Kubernetes schemas, and keeps
the promises of deploy/k8s/README.md (non-root, read-only, probes on the right routes, resources,
secrets only by reference, images pinned, grace periods that fit the processes' own)."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from prorata import cli
from prorata.app import API_PREFIX
from prorata.config import Settings
from prorata.jobs import housekeeping
from prorata.system import router as system_router
from tests import kustomize
from tests.kustomize import K8S, OVERLAYS, Object, containers, find, pod_spec

# The oldest Kubernetes still supported upstream when this was written, and the newest schemas
# kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())

# KEDA's custom resources are not in the Kubernetes schemas: their fields that these manifests
# use, checked against this excerpt of KEDA's CRDs (keda.sh/v1alpha1, KEDA 2.x).
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string"},
                            "kind": {"type": "string"},
                            "apiVersion": {"type": "string"},
                        },
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "cooldownPeriod": {"type": "integer", "minimum": 0},
                    "advanced": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"horizontalPodAutoscalerConfig": {"type": "object"}},
                    },
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "additionalProperties": False,
                            "properties": {
                                "type": {"type": "string"},
                                "metadata": _STRINGS,
                                "authenticationRef": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {"name": {"type": "string"}},
                                },
                            },
                        },
                    },
                },
            }
        },
    },
    ("keda.sh/v1alpha1", "TriggerAuthentication"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["parameter", "name", "key"],
                            "additionalProperties": False,
                            "properties": {
                                "parameter": {"type": "string"},
                                "name": {"type": "string"},
                                "key": {"type": "string"},
                            },
                        },
                    }
                },
            }
        },
    },
}

# Environment names in the ConfigMap that are not Prorata settings.
OTHER_SETTINGS = {"AWS_REGION", "PYTHONDONTWRITEBYTECODE", "HOME"}
DIGEST = re.compile(r"^[a-z0-9.\-/:]+@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[Object]:
    return kustomize.overlay(request.param)


def _route_path(name: str) -> str:
    [path] = [
        str(getattr(route, "path", ""))
        for route in system_router.router.routes
        if getattr(route, "name", None) == name
    ]
    return API_PREFIX + path


def _secret_names() -> set[str]:
    """The environment names of every secret setting (SecretStr), plus the S3 key id."""
    names = {"AWS_ACCESS_KEY_ID"}
    for field_name, field in Settings.model_fields.items():
        if "SecretStr" not in str(field.annotation):
            continue
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.add(str(choices[0]) if choices else f"PRORATA_{field_name.upper()}")
    return names


def _grace(objects: list[Object], name: str) -> int:
    spec = pod_spec(find(objects, "Deployment", name))
    assert spec is not None
    return int(spec["terminationGracePeriodSeconds"])


def test_the_overlays_validate_against_the_kubernetes_schemas(rendered: list[Object]) -> None:
    for item in rendered:
        crd = CRD_SCHEMAS.get((item["apiVersion"], item["kind"]))
        if crd is not None:
            jsonschema.validate(item, crd)
            continue
        for version in KUBERNETES_VERSIONS:
            # Strict: a misspelt or misplaced field is an error, not silently dropped.
            kubernetes_validate.validate(item, version, strict=True)


def test_keda_scales_the_worker_on_the_queue_and_replaces_the_plain_autoscaler() -> None:
    plain, keda = kustomize.overlay("production"), kustomize.overlay("production-keda")
    assert not [o for o in plain if o["apiVersion"].startswith("keda.sh/")]
    hpa = find(plain, "HorizontalPodAutoscaler", "prorata-worker")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "prorata-worker"
    assert not [o for o in keda if o["kind"] == "HorizontalPodAutoscaler" and "worker" in str(o)]
    scaled = find(keda, "ScaledObject", "prorata-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "prorata-worker"
    # Never zero workers: the web pods' readiness needs a recent heartbeat.
    assert scaled["spec"]["minReplicaCount"] >= 1
    assert hpa["spec"]["minReplicas"] >= 1
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "postgresql"
    assert "procrastinate_jobs" in trigger["metadata"]["query"]
    assert f"queue_name <> '{housekeeping.QUEUE}'" in trigger["metadata"]["query"]
    auth = find(keda, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    [ref] = auth["spec"]["secretTargetRef"]
    assert ref == {
        "parameter": "connection",
        "name": "prorata-app",
        "key": "PRORATA_APP_DATABASE_URL",
    }
    # One worker per PRORATA_WORKER_CONCURRENCY jobs.
    config = find(keda, "ConfigMap", "prorata-config")["data"]
    assert trigger["metadata"]["targetQueryValue"] == config["PRORATA_WORKER_CONCURRENCY"]


def test_every_pod_runs_non_root_read_only_with_resources(rendered: list[Object]) -> None:
    pods = [o for o in rendered if pod_spec(o) is not None]
    assert {o["metadata"]["name"] for o in pods} == {
        "prorata-web",
        "prorata-worker",
        "prorata-migrate",
    }
    for item in pods:
        spec = pod_spec(item)
        assert spec is not None
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["automountServiceAccountToken"] is False
        tmp = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in containers(item):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts["/tmp"] in tmp
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) == {"cpu", "memory"}


def test_images_are_pinned_by_digest(rendered: list[Object]) -> None:
    images = [c["image"] for o in rendered for c in containers(o)]
    assert len(images) == 3
    assert all(DIGEST.match(image) for image in images), images


def test_web_probes_ask_health_for_liveness_and_ready_for_readiness(
    rendered: list[Object],
) -> None:
    [web] = containers(find(rendered, "Deployment", "prorata-web"))
    port = {p["name"]: p["containerPort"] for p in web["ports"]}["http"]
    assert str(port) == find(rendered, "ConfigMap", "prorata-config")["data"]["PRORATA_PORT"]
    health, ready = _route_path("health"), _route_path("ready")
    assert web["livenessProbe"]["httpGet"] == {"path": health, "port": "http"}
    assert web["startupProbe"]["httpGet"] == {"path": health, "port": "http"}
    assert web["readinessProbe"]["httpGet"] == {"path": ready, "port": "http"}
    service = find(rendered, "Service", "prorata-web")
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_secrets_come_by_reference_only(rendered: list[Object]) -> None:
    secret_names = _secret_names()
    assert {"DATABASE_URL", "PRORATA_APP_DATABASE_URL", "PRORATA_ENCRYPTION_KEY"} <= secret_names
    assert not [o for o in rendered if o["kind"] == "Secret"]
    config = find(rendered, "ConfigMap", "prorata-config")["data"]
    assert not secret_names & set(config)
    for item in rendered:
        for container in containers(item):
            for variable in container.get("env", []):
                if variable["name"] in secret_names:
                    assert set(variable) == {"name", "valueFrom"}
                    assert "secretKeyRef" in variable["valueFrom"]
    # Only the migration holds the owner's connection.
    owners = [
        o["metadata"]["name"]
        for o in rendered
        for c in containers(o)
        for v in c.get("env", [])
        if v["name"] == "DATABASE_URL"
    ]
    assert owners == ["prorata-migrate"]


def test_the_configmap_names_only_real_settings(rendered: list[Object]) -> None:
    config = find(rendered, "ConfigMap", "prorata-config")["data"]
    known = {f"PRORATA_{name.upper()}" for name in Settings.model_fields}
    unknown = {
        name
        for name in config
        if name not in known and name not in OTHER_SETTINGS and not name.startswith("OTEL_")
    }
    assert not unknown
    # And they are valid values: the settings load from them (with the secrets they need).
    values = {
        name.removeprefix("PRORATA_").lower(): v for name, v in config.items() if name in known
    }
    Settings(
        **values,
        app_database_url="postgresql://prorata_app:x@db/prorata",
        encryption_key="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    )


def test_grace_periods_leave_room_for_the_processes_own_shutdown(rendered: list[Object]) -> None:
    config = find(rendered, "ConfigMap", "prorata-config")["data"]
    worker_shutdown = float(config["PRORATA_WORKER_SHUTDOWN_SECONDS"])
    # After the jobs' time is up they are cancelled, put back in the queue, the pools closed.
    assert _grace(rendered, "prorata-worker") >= worker_shutdown + 10
    [web] = containers(find(rendered, "Deployment", "prorata-web"))
    pre_stop = int(web["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert _grace(rendered, "prorata-web") >= pre_stop + cli.WEB_SHUTDOWN_SECONDS + 5


def test_every_deployment_has_a_disruption_budget_and_an_autoscaler(
    rendered: list[Object],
) -> None:
    for deployment in (o for o in rendered if o["kind"] == "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        budgets = [
            o
            for o in rendered
            if o["kind"] == "PodDisruptionBudget"
            and o["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(budgets) == 1
        scalers = [
            o
            for o in rendered
            if o["kind"] in {"HorizontalPodAutoscaler", "ScaledObject"}
            and o["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        ]
        assert len(scalers) == 1


def test_network_policies_deny_by_default_and_open_the_needed_ports(
    rendered: list[Object],
) -> None:
    deny = find(rendered, "NetworkPolicy", "prorata-default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    web = find(rendered, "NetworkPolicy", "prorata-web")["spec"]
    ingress = {p["port"] for rule in web["ingress"] for p in rule["ports"]}
    assert 8000 in ingress
    for name in ("prorata-web", "prorata-worker"):
        spec = find(rendered, "NetworkPolicy", name)["spec"]
        egress = {p["port"] for rule in spec["egress"] for p in rule["ports"]}
        assert {5432, 443, 587, 4318} <= egress  # PostgreSQL, S3, SMTP, OTLP


def test_every_namespaced_object_is_in_the_namespace(rendered: list[Object]) -> None:
    for item in rendered:
        if item["kind"] != "Namespace":
            assert item["metadata"]["namespace"] == "prorata", item["metadata"]["name"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed here")
@pytest.mark.parametrize("name", OVERLAYS)
def test_kubectl_renders_the_same_objects(name: str) -> None:
    """The renderer of tests/kustomize.py against the real kustomize, where there is one."""
    printed = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / name)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    def key(item: Object) -> tuple[str, str]:
        return item["kind"], item["metadata"]["name"]

    theirs = {key(o): o for o in yaml.safe_load_all(printed) if o}
    ours = {key(o): o for o in kustomize.overlay(name)}
    assert ours == theirs
