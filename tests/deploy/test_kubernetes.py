"""The Kustomize package: every overlay renders, every object validates against the
Kubernetes schemas, checkov finds nothing unexplained, and the objects say what the
README promises (pinned images, hardened pods, one signing key, cluster URLs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.conftest import CHECKOV, DEPLOY, Rendered, kustomize, make_secrets

# The oldest Kubernetes the package supports, and the newest the validator knows.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
SERVICES = ("complaints", "notifications", "audit", "portal")
STATELESS = ("complaints", "portal")
PUBLIC = {"portal", "audit"}


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_validates_against_the_kubernetes_schema(
    rendered: Rendered, version: str
) -> None:
    kinds = {doc["kind"] for doc in rendered.objects}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"} <= kinds
    assert {"HorizontalPodAutoscaler", "NetworkPolicy", "Ingress", "Namespace"} <= kinds
    for doc in rendered.objects:
        kubernetes_validate.validate(doc, version, strict=True)


def test_checkov_finds_no_failure_and_every_skip_gives_its_reason(
    rendered: Rendered, tmp_path: Path
) -> None:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make test` installs it (target CHECKOV)")
    (tmp_path / f"{rendered.overlay}.yaml").write_text(rendered.text)
    shutil.copy(DEPLOY / "Dockerfile", tmp_path / "Dockerfile")
    done = subprocess.run(
        [
            str(CHECKOV),
            *("-d", str(tmp_path), "--framework", "kubernetes", "dockerfile"),
            *("--skip-download", "--compact", "-o", "json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BC_SKIP_MAPPING": "TRUE"},
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert {report["check_type"] for report in reports} == {"kubernetes", "dockerfile"}
    for report in reports:
        failed = [
            (c["check_id"], c["resource"], c["check_name"])
            for c in report["results"]["failed_checks"]
        ]
        assert failed == [], failed
        assert report["summary"]["parsing_errors"] == 0
        assert report["summary"]["passed"] > 0
        for skipped in report["results"]["skipped_checks"]:
            reason = skipped["check_result"].get("suppress_comment", "")
            assert len(reason) > 40, f"{skipped['check_id']} is skipped without a reason"


def test_images_are_pinned_and_pods_are_hardened(rendered: Rendered) -> None:
    deployments = {d["metadata"]["name"]: d for d in rendered.of_kind("Deployment")}
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] >= 10000
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
        for container in containers(deployment):
            image, _, tag = container["image"].rpartition(":")
            assert image.endswith("/telecom-complaints") and tag not in ("", "latest"), name
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert {"mountPath": "/tmp", "name": "tmp"} in container["volumeMounts"]
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        [main] = pod["containers"]
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
        if name != "portal":  # the portal keeps no database
            [schema] = pod["initContainers"]
            assert schema["args"] == ["python", "-m", "services.schema", name]


def test_one_signing_key_from_a_secret_for_every_audit_replica(rendered: Rendered) -> None:
    audit = rendered.named("Deployment", "audit")
    [volume] = [v for v in audit["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    secret = rendered.named("Secret", volume["secret"]["secretName"])
    assert list(secret["data"]) == ["signing.pem"]
    [config] = rendered.of_kind("ConfigMap")
    mount = next(
        m
        for m in audit["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        if m["name"] == volume["name"]
    )
    assert mount["readOnly"] is True
    assert config["data"]["AUDIT_SIGNING_KEY"] == f"{mount['mountPath']}/signing.pem"


def test_service_urls_name_the_cluster_services_never_loopback(rendered: Rendered) -> None:
    [config] = rendered.of_kind("ConfigMap")
    data = config["data"]
    for key in (
        "NOTIFICATIONS_FEED_URL",
        "NOTIFICATIONS_COMPLAINTS_URL",
        "AUDIT_FEED_URL",
        "PORTAL_COMPLAINTS_URL",
    ):
        assert data[key] == "http://complaints:8000", key
    assert all("127.0.0.1" not in value and "localhost" not in value for value in data.values())
    assert data["PORTAL_PUBLIC_URL"].startswith("https://portal.")
    secrets = {s["metadata"]["name"].rsplit("-", 1)[0]: s for s in rendered.of_kind("Secret")}
    assert set(secrets) == {f"{s}-secrets" for s in SERVICES} | {"audit-signing-key"}
    assert "AUTH_JWT_SECRET" not in secrets["portal-secrets"]["data"]  # cannot mint staff tokens


def test_budgets_autoscalers_and_network_policies(rendered: Rendered) -> None:
    budgets = {
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for p in rendered.of_kind("PodDisruptionBudget")
    }
    assert budgets == set(SERVICES)
    scaled = {
        h["spec"]["scaleTargetRef"]["name"] for h in rendered.of_kind("HorizontalPodAutoscaler")
    }
    assert scaled == set(STATELESS)
    policies = {p["metadata"]["name"]: p for p in rendered.of_kind("NetworkPolicy")}
    assert policies["default-deny-ingress"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
    }
    open_to_all = set()
    for policy in policies.values():
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule:  # no source named: reachable from anywhere
                [selector] = policy["spec"]["podSelector"]["matchExpressions"]
                open_to_all |= set(selector["values"])
    assert open_to_all == PUBLIC
    [ingress] = rendered.of_kind("Ingress")
    backends = {
        r["http"]["paths"][0]["backend"]["service"]["name"] for r in ingress["spec"]["rules"]
    }
    assert backends == PUBLIC


def test_new_secrets_keeps_every_value_it_made_before(deploy_copy: Path) -> None:
    overlay = deploy_copy / "kubernetes" / "overlays" / "staging"
    before = {p.name: p.read_bytes() for p in (overlay / "secrets").iterdir()}
    make_secrets(overlay)
    after = {p.name: p.read_bytes() for p in (overlay / "secrets").iterdir()}
    assert after == before
    assert all(oct(p.stat().st_mode)[-3:] == "600" for p in (overlay / "secrets").iterdir())
    assert kustomize(overlay)
