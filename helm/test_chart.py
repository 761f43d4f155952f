"""Offline tests of the Helm chart in helm/inbox.

Renders the chart with Helm's own Go SDK (the `helm-python-sdk` wheel, no helm binary, no
cluster), lints it strictly, and validates every rendered document against the Kubernetes 1.33
API schemas shipped by `kubernetes-validate`. Then checks the fleet's contract: seven services,
probes, pod security, the environment each binary reads.

    pip install -r helm/requirements.txt
    python3 -m pytest -q helm/test_chart.py
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

CHART = Path(__file__).resolve().parent / "inbox"
RELEASE = "inbox"
NAMESPACE = "inbox"
KUBE_VERSION = "1.33"

# service -> (http port, grpc port)
PORTS = {
    "gateway": (8080, 9080),
    "channel-ingest": (8081, 9081),
    "conversation": (8082, 9082),
    "routing": (8083, 9083),
    "notification": (8084, 9084),
    "search": (8085, 9085),
    "metrics": (8086, 9086),
}
SERVICES = list(PORTS)
POSTGRES_SERVICES = {"gateway", "channel-ingest", "conversation", "routing", "notification", "metrics"}
REDIS_SERVICES = {"gateway", "routing", "channel-ingest"}
GATEWAY_SECRET_ENV = {
    "INBOX__GATEWAY__JWT_SECRET": "jwtSecret",
    "INBOX__GATEWAY__OPERATOR_TOKEN": "operatorToken",
}

CUSTOM_VALUES: dict[str, Any] = {
    "image": {"repository": "registry.example.com/team/", "tag": "1.2.3"},
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"},
        "hosts": [{"host": "inbox.example.test"}, {"host": "support.example.test"}],
        "tls": [{"secretName": "inbox-tls", "hosts": ["inbox.example.test", "support.example.test"]}],
    },
    "secret": {"existingSecret": "inbox-credentials"},
    "otel": {"endpoint": "http://otel-collector.observability:4317"},
    "log": {"level": "debug"},
    "nats": {"url": "nats://nats.messaging:4222"},
    "redis": {"url": "redis://redis.cache:6379/0"},
    "services": {
        name: {
            "replicas": 2 if name == "search" else 3,
            "autoscaling": {"enabled": False},
            "podDisruptionBudget": {"enabled": True},
        }
        for name in SERVICES
    },
}
CUSTOM_VALUES["services"]["conversation"]["logLevel"] = "trace"
CUSTOM_VALUES["services"]["search"]["persistence"] = {"size": "50Gi", "storageClass": "fast-ssd"}


class Rendered:
    """The documents of one render, with look-ups by kind and name."""

    def __init__(self, values: dict[str, Any] | None, release: str = RELEASE) -> None:
        with helm.Chart.load(CHART) as chart:
            files = chart.render(values=values, name=release, namespace=NAMESPACE)
        self.notes = ""
        self.docs: list[dict[str, Any]] = []
        for path, text in sorted(files.items()):
            if path.endswith("NOTES.txt"):
                self.notes = text
                continue
            for doc in yaml.safe_load_all(text):
                if doc:
                    doc["__source__"] = path
                    self.docs.append(doc)

    def manifests(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in d.items() if k != "__source__"} for d in self.docs]

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {d["metadata"]["name"]: d for d in self.docs if d["kind"] == kind}

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert name in found, f"no {kind} {name}; have {sorted(found)}"
        return found[name]

    def workload(self, service: str, release: str = RELEASE) -> dict[str, Any]:
        kind = "StatefulSet" if service == "search" else "Deployment"
        return self.get(kind, f"{release}-{service}")

    def container(self, service: str) -> dict[str, Any]:
        containers = self.workload(service)["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1
        return containers[0]

    def env(self, service: str) -> dict[str, dict[str, Any]]:
        entries = self.container(service)["env"]
        names = [e["name"] for e in entries]
        assert len(names) == len(set(names)), f"{service}: duplicate env names {names}"
        return {e["name"]: e for e in entries}


@pytest.fixture(scope="module")
def default() -> Rendered:
    return Rendered(None)


@pytest.fixture(scope="module")
def custom() -> Rendered:
    return Rendered(copy.deepcopy(CUSTOM_VALUES))


@pytest.fixture(scope="module", params=["default", "custom"])
def both(request: pytest.FixtureRequest) -> Rendered:
    return request.getfixturevalue(request.param)


def secret_ref(entry: dict[str, Any]) -> tuple[str, str]:
    ref = entry["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


# --- Helm itself -------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, CUSTOM_VALUES], ids=["default", "custom"])
def test_lint_strict(values: dict[str, Any] | None) -> None:
    report = helm.lint(CHART, copy.deepcopy(values) if values else None, strict=True)
    assert report["total_charts_linted"] == 1
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems, problems
    assert not report["errors"], report["errors"]


def test_chart_metadata() -> None:
    with helm.Chart.load(CHART) as chart:
        meta = chart.metadata
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "inbox"


# --- Kubernetes schemas ------------------------------------------------------------------------


def test_every_document_is_valid_kubernetes(both: Rendered) -> None:
    manifests = both.manifests()
    assert manifests
    for doc in manifests:
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {err.message} at {list(err.path)}")


def test_validation_catches_mistakes(default: Rendered) -> None:
    """The schema check above is not vacuous: a wrong type and an unknown field are refused."""
    deployment = next(d for d in default.manifests() if d["kind"] == "Deployment")
    kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)

    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, KUBE_VERSION, strict=True)

    unknown_field = copy.deepcopy(deployment)
    unknown_field["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown_field, KUBE_VERSION, strict=True)


def test_kinds(default: Rendered, custom: Rendered) -> None:
    kinds_default = sorted({d["kind"] for d in default.docs})
    assert kinds_default == sorted(
        ["Deployment", "HorizontalPodAutoscaler", "Secret", "Service", "ServiceAccount", "StatefulSet"]
    )
    kinds_custom = sorted({d["kind"] for d in custom.docs})
    assert kinds_custom == sorted(
        ["Deployment", "Ingress", "PodDisruptionBudget", "Service", "ServiceAccount", "StatefulSet"]
    )


# --- The seven services ------------------------------------------------------------------------


def test_all_seven_services_present(both: Rendered) -> None:
    deployments = both.of_kind("Deployment")
    assert sorted(deployments) == sorted(f"{RELEASE}-{s}" for s in SERVICES if s != "search")
    assert sorted(both.of_kind("StatefulSet")) == [f"{RELEASE}-search"]
    services = both.of_kind("Service")
    for name, (http, grpc) in PORTS.items():
        svc = services[f"{RELEASE}-{name}"]
        ports = {p["name"]: p for p in svc["spec"]["ports"]}
        assert set(ports) == {"http", "grpc"}, name
        assert (ports["http"]["port"], ports["http"]["targetPort"]) == (http, "http")
        assert (ports["grpc"]["port"], ports["grpc"]["targetPort"]) == (grpc, "grpc")
        container = both.container(name)
        assert container["name"] == name
        container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert container_ports == {"http": http, "grpc": grpc}, name


def test_service_selectors_match_pods(both: Rendered) -> None:
    for name in SERVICES:
        workload = both.workload(name)
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels.items(), name
        assert selector["app.kubernetes.io/component"] == name
        svc_selector = both.get("Service", f"{RELEASE}-{name}")["spec"]["selector"]
        assert svc_selector == selector, name
        # No other workload's pods match this Service.
        for other in SERVICES:
            if other != name:
                other_labels = both.workload(other)["spec"]["template"]["metadata"]["labels"]
                assert not svc_selector.items() <= other_labels.items(), (name, other)


def test_probes(both: Rendered) -> None:
    for name in SERVICES:
        container = both.container(name)
        liveness = container["livenessProbe"]["httpGet"]
        readiness = container["readinessProbe"]["httpGet"]
        assert (liveness["path"], liveness["port"]) == ("/healthz", "http"), name
        assert (readiness["path"], readiness["port"]) == ("/readyz", "http"), name
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name


def test_security_context(both: Rendered) -> None:
    for name in SERVICES:
        pod = both.workload(name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == RELEASE
        sc = pod["containers"][0]["securityContext"]
        assert sc["runAsNonRoot"] is True, name
        assert sc["runAsUser"] == 10001, name
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"]["drop"] == ["ALL"], name
        # A read-only root needs a writable /tmp.
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        assert mounts.get("/tmp") == "tmp", name
    assert RELEASE in both.of_kind("ServiceAccount")


def test_resources_from_values(both: Rendered) -> None:
    with helm.Chart.load(CHART) as chart:
        defaults = chart.values["services"]
    for name in SERVICES:
        assert both.container(name)["resources"] == defaults[name]["resources"], name


def test_prometheus_annotations(both: Rendered) -> None:
    for name, (http, _) in PORTS.items():
        annotations = both.workload(name)["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/port"] == str(http), name
        assert annotations["prometheus.io/path"] == "/metrics", name


def test_images(default: Rendered, custom: Rendered) -> None:
    with helm.Chart.load(CHART) as chart:
        app_version = chart.metadata["appVersion"]
    for name in SERVICES:
        assert default.container(name)["image"] == f"ghcr.io/inbox/inbox-{name}:{app_version}"
        assert custom.container(name)["image"] == f"registry.example.com/team/inbox-{name}:1.2.3"


# --- The configuration contract ----------------------------------------------------------------


@pytest.mark.parametrize("which", ["default", "custom"])
def test_env_contract(which: str, request: pytest.FixtureRequest) -> None:
    rendered: Rendered = request.getfixturevalue(which)
    secret_name = "inbox-credentials" if which == "custom" else RELEASE
    nats = "nats://nats.messaging:4222" if which == "custom" else "nats://nats:4222"
    redis = "redis://redis.cache:6379/0" if which == "custom" else "redis://redis:6379"
    for name, (http, grpc) in PORTS.items():
        env = rendered.env(name)
        assert env["INBOX__HTTP__ADDR"]["value"] == f"0.0.0.0:{http}", name
        assert env["INBOX__GRPC__ADDR"]["value"] == f"0.0.0.0:{grpc}", name
        assert env["INBOX__NATS__URL"]["value"] == nats, name
        assert env["INBOX__LOG__FORMAT"]["value"] == "json", name
        expected_level = "info" if which == "default" else ("trace" if name == "conversation" else "debug")
        assert env["INBOX__LOG__LEVEL"]["value"] == expected_level, name
        assert secret_ref(env["INBOX__AUTH__SERVICE_TOKEN"]) == (secret_name, "serviceToken"), name

        if name in POSTGRES_SERVICES:
            assert "value" not in env["INBOX__POSTGRES__URL"], f"{name}: Postgres URL must come from the Secret"
            assert secret_ref(env["INBOX__POSTGRES__URL"]) == (secret_name, f"postgresUrl-{name}")
        else:
            assert "INBOX__POSTGRES__URL" not in env, name

        if name in REDIS_SERVICES:
            assert env["INBOX__REDIS__URL"]["value"] == redis, name
        else:
            assert "INBOX__REDIS__URL" not in env, name

        if name == "gateway":
            for var, key in GATEWAY_SECRET_ENV.items():
                assert secret_ref(env[var]) == (secret_name, key)
            assert env["INBOX__GATEWAY__CONVERSATION_URL"]["value"] == f"http://{RELEASE}-conversation:9082"
            assert env["INBOX__GATEWAY__CHANNEL_INGEST_URL"]["value"] == f"http://{RELEASE}-channel-ingest:9081"
        else:
            assert not [k for k in env if k.startswith("INBOX__GATEWAY__")], name

        if name == "search":
            assert env["INBOX__SEARCH__INDEX_DIR"]["value"] == "/var/lib/inbox/search"
        else:
            assert "INBOX__SEARCH__INDEX_DIR" not in env, name

        if which == "custom":
            assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://otel-collector.observability:4317"
        else:
            assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env, name


def test_gateway_urls_name_real_grpc_services() -> None:
    """With a release name that gets the chart name appended, the URLs still hit real Services."""
    rendered = Rendered(None, release="prod")
    services = rendered.of_kind("Service")
    env = {e["name"]: e for e in rendered.get("Deployment", "prod-inbox-gateway")["spec"]["template"]["spec"]["containers"][0]["env"]}
    for var, target in [
        ("INBOX__GATEWAY__CONVERSATION_URL", "conversation"),
        ("INBOX__GATEWAY__CHANNEL_INGEST_URL", "channel-ingest"),
        ("INBOX__GATEWAY__ROUTING_URL", "routing"),
    ]:
        url = urlsplit(env[var]["value"])
        assert url.scheme == "http"
        assert url.hostname == f"prod-inbox-{target}"
        ports = {p["name"]: p["port"] for p in services[url.hostname]["spec"]["ports"]}
        assert url.port == ports["grpc"] == PORTS[target][1]


def test_secret_default_holds_every_referenced_key(default: Rendered) -> None:
    secret = default.get("Secret", RELEASE)
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    for key in ("serviceToken", "jwtSecret", "operatorToken"):
        assert len(data[key]) >= 32, key
    assert data["postgresUrl-gateway"] == "postgres://inbox@postgres:5432/inbox_gateway"
    assert data["postgresUrl-channel-ingest"] == "postgres://inbox@postgres:5432/inbox_ingest"
    assert {k for k in data if k.startswith("postgresUrl-")} == {f"postgresUrl-{s}" for s in POSTGRES_SERVICES}
    for name in SERVICES:
        for entry in default.env(name).values():
            if "valueFrom" in entry:
                ref_name, key = secret_ref(entry)
                assert ref_name == RELEASE and key in data, (name, entry["name"])


def test_existing_secret_replaces_the_charts_own(custom: Rendered) -> None:
    assert custom.of_kind("Secret") == {}
    refs = {secret_ref(e)[0] for s in SERVICES for e in custom.env(s).values() if "valueFrom" in e}
    assert refs == {"inbox-credentials"}


def test_postgres_urls_given_or_built_with_escaping() -> None:
    rendered = Rendered(
        {
            "postgres": {"host": "db.internal", "port": 6432, "user": "svc", "password": "p@ss w+rd/:", "params": "sslmode=require"},
            "secret": {"postgresUrls": {"metrics": "postgres://m:x@metrics-db:5432/m"}, "jwtSecret": "given-jwt"},
        }
    )
    data = {k: base64.b64decode(v).decode() for k, v in rendered.get("Secret", RELEASE)["data"].items()}
    url = data["postgresUrl-conversation"]
    assert url == "postgres://svc:p%40ss%20w%2Brd%2F%3A@db.internal:6432/inbox_conversation?sslmode=require"
    assert urlsplit(url).hostname == "db.internal"
    assert data["postgresUrl-metrics"] == "postgres://m:x@metrics-db:5432/m"
    assert data["jwtSecret"] == "given-jwt"


# --- Scaling, storage, ingress -----------------------------------------------------------------


def test_hpa_by_default_only_for_channel_ingest(default: Rendered) -> None:
    hpas = default.of_kind("HorizontalPodAutoscaler")
    assert sorted(hpas) == [f"{RELEASE}-channel-ingest"]
    hpa = hpas[f"{RELEASE}-channel-ingest"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{RELEASE}-channel-ingest"}
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    # The HPA owns the replica count of channel-ingest; the others take it from values.
    assert "replicas" not in default.workload("channel-ingest")["spec"]
    with helm.Chart.load(CHART) as chart:
        defaults = chart.values["services"]
    for name in SERVICES:
        if name != "channel-ingest":
            assert default.workload(name)["spec"]["replicas"] == defaults[name]["replicas"], name
    assert default.of_kind("PodDisruptionBudget") == {}


def test_custom_replicas_no_hpa_and_pdbs(custom: Rendered) -> None:
    assert custom.of_kind("HorizontalPodAutoscaler") == {}
    for name in SERVICES:
        assert custom.workload(name)["spec"]["replicas"] == (2 if name == "search" else 3), name
    pdbs = custom.of_kind("PodDisruptionBudget")
    assert sorted(pdbs) == sorted(f"{RELEASE}-{s}" for s in SERVICES)
    for name in SERVICES:
        pdb = pdbs[f"{RELEASE}-{name}"]
        assert pdb["spec"]["selector"]["matchLabels"] == custom.workload(name)["spec"]["selector"]["matchLabels"]
        assert pdb["spec"]["maxUnavailable"] == 1


def test_search_is_a_statefulset_with_an_index_volume(default: Rendered, custom: Rendered) -> None:
    for rendered, size, storage_class in [(default, "10Gi", None), (custom, "50Gi", "fast-ssd")]:
        sts = rendered.workload("search")
        claims = sts["spec"]["volumeClaimTemplates"]
        assert [c["metadata"]["name"] for c in claims] == ["index"]
        assert claims[0]["spec"]["resources"]["requests"]["storage"] == size
        assert claims[0]["spec"].get("storageClassName") == storage_class
        mounts = {m["name"]: m["mountPath"] for m in rendered.container("search")["volumeMounts"]}
        assert mounts["index"] == "/var/lib/inbox/search"
        headless = rendered.get("Service", sts["spec"]["serviceName"])
        assert headless["spec"]["clusterIP"] == "None"
        # The volume is writable by the non-root user.
        assert sts["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == 10001


def test_ingress(default: Rendered, custom: Rendered) -> None:
    assert default.of_kind("Ingress") == {}
    ingress = custom.get("Ingress", RELEASE)
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"][0]["secretName"] == "inbox-tls"
    rules = ingress["spec"]["rules"]
    assert [r["host"] for r in rules] == ["inbox.example.test", "support.example.test"]
    services = custom.of_kind("Service")
    for rule in rules:
        routes = {p["path"]: (p["pathType"], p["backend"]["service"]) for p in rule["http"]["paths"]}
        assert routes == {
            "/webhooks": ("Prefix", {"name": f"{RELEASE}-channel-ingest", "port": {"name": "http"}}),
            "/webchat": ("Prefix", {"name": f"{RELEASE}-channel-ingest", "port": {"name": "http"}}),
            "/": ("Prefix", {"name": f"{RELEASE}-gateway", "port": {"name": "http"}}),
        }
        for _, backend in routes.values():
            assert "http" in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}


def test_notes(default: Rendered, custom: Rendered) -> None:
    assert "port-forward svc/inbox-gateway 8080:8080" in default.notes
    assert "https://inbox.example.test/" in custom.notes
    assert "inbox-credentials" in custom.notes
