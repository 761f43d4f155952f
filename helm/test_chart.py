"""Offline tests of the Helm chart in helm/inbox.

Renders the chart with Helm's own Go SDK (the `helm-python-sdk` wheel, no helm binary, no
cluster), lints it strictly, and validates every rendered document against the Kubernetes 1.33
API schemas shipped by `kubernetes-validate`. Then checks the fleet's contract: seven services,
probes, pod security, the environment each binary reads; policies every render keeps (no
container as root, pinned images, requests and limits, probes, a NetworkPolicy per service);
the network policies against the call graph; ServiceMonitors; the alert rules and the dashboard
(well formed, and naming only metrics the services register). Renders: default values, custom
ones, and `values-production.yaml`.

    pip install -r helm/requirements.txt
    python3 -m pytest -q helm/test_chart.py
"""

from __future__ import annotations

import base64
import hashlib
import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

CHART = Path(__file__).resolve().parent / "inbox"
REPO = CHART.parent.parent
PRODUCTION_VALUES = yaml.safe_load((CHART / "values-production.yaml").read_text())
RELEASE = "inbox"
NAMESPACE = "inbox"
KUBE_VERSION = "1.33"

# service -> (http port, grpc port)
# (http, grpc); each admin port (/metrics) is the http port + 2000.
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
    "nats": {"url": "nats://nats.messaging:4222", "users": False},
    "redis": {"url": "redis://redis.cache:6379/0", "users": True},
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


@pytest.fixture(scope="module")
def production() -> Rendered:
    return Rendered(copy.deepcopy(PRODUCTION_VALUES))


@pytest.fixture(scope="module", params=["default", "custom", "production"])
def both(request: pytest.FixtureRequest) -> Rendered:
    """Every render: default values, the custom ones above, and values-production.yaml."""
    return request.getfixturevalue(request.param)


def secret_ref(entry: dict[str, Any]) -> tuple[str, str]:
    ref = entry["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


# --- Helm itself -------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, CUSTOM_VALUES, PRODUCTION_VALUES], ids=["default", "custom", "production"])
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


# Kinds of the Prometheus Operator (CRDs): no schema ships with kubernetes-validate; they are
# checked by the tests of their own below.
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}


def test_every_document_is_valid_kubernetes(both: Rendered) -> None:
    manifests = both.manifests()
    assert manifests
    for doc in manifests:
        if doc["kind"] in OPERATOR_KINDS:
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            continue
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


def test_kinds(default: Rendered, custom: Rendered, production: Rendered) -> None:
    kinds_default = sorted({d["kind"] for d in default.docs})
    assert kinds_default == sorted(
        [
            "Deployment",
            "HorizontalPodAutoscaler",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "ServiceAccount",
            "StatefulSet",
        ]
    )
    kinds_custom = sorted({d["kind"] for d in custom.docs})
    assert kinds_custom == sorted(
        ["Deployment", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount", "StatefulSet"]
    )
    kinds_production = sorted({d["kind"] for d in production.docs})
    assert kinds_production == sorted(
        [
            "ConfigMap",
            "Deployment",
            "HorizontalPodAutoscaler",
            "Ingress",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "PrometheusRule",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
            "StatefulSet",
        ]
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
        assert set(ports) == {"http", "grpc", "admin"}, name
        assert (ports["http"]["port"], ports["http"]["targetPort"]) == (http, "http")
        assert (ports["admin"]["port"], ports["admin"]["targetPort"]) == (http + 2000, "admin")
        assert (ports["grpc"]["port"], ports["grpc"]["targetPort"]) == (grpc, "grpc")
        container = both.container(name)
        assert container["name"] == name
        container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert container_ports == {"http": http, "grpc": grpc, "admin": http + 2000}, name


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


def test_resources_from_values(default: Rendered, custom: Rendered) -> None:
    with helm.Chart.load(CHART) as chart:
        defaults = chart.values["services"]
    for rendered in (default, custom):
        for name in SERVICES:
            assert rendered.container(name)["resources"] == defaults[name]["resources"], name


def test_prometheus_annotations(both: Rendered) -> None:
    for name, (http, _) in PORTS.items():
        annotations = both.workload(name)["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/port"] == str(http + 2000), name
        assert annotations["prometheus.io/path"] == "/metrics", name


def test_images(default: Rendered, custom: Rendered, production: Rendered) -> None:
    with helm.Chart.load(CHART) as chart:
        app_version = chart.metadata["appVersion"]
    for name in SERVICES:
        assert default.container(name)["image"] == f"ghcr.io/inbox/inbox-{name}:{app_version}"
        assert custom.container(name)["image"] == f"registry.example.com/team/inbox-{name}:1.2.3"
        assert production.container(name)["image"] == f"registry.example.com/inbox/inbox-{name}:0.1.0"


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
        assert env["INBOX__HTTP__ADMIN_ADDR"]["value"] == f"0.0.0.0:{http + 2000}", name
        assert env["INBOX__NATS__URL"]["value"] == nats, name
        assert env["INBOX__LOG__FORMAT"]["value"] == "json", name
        expected_level = "info" if which == "default" else ("trace" if name == "conversation" else "debug")
        assert env["INBOX__LOG__LEVEL"]["value"] == expected_level, name
        assert secret_ref(env["INBOX__AUTH__SERVICE_TOKEN"]) == (secret_name, f"serviceToken-{name}"), name
        # Each caller by its own token's hash: exactly the services that call this one.
        callers = [caller for (caller, callee) in CALLS if callee == name]
        if callers:
            expected = ",".join(f"{c}:$(INBOX_CALLER_SHA256_{c.replace('-', '_').upper()})" for c in callers)
            assert env["INBOX__AUTH__CALLERS"]["value"] == expected, name
            for caller in callers:
                var = f"INBOX_CALLER_SHA256_{caller.replace('-', '_').upper()}"
                assert secret_ref(env[var]) == (secret_name, f"serviceTokenSha256-{caller}"), (name, var)
                # Kubernetes expands $(VAR) only from variables defined before.
                names = [e["name"] for e in rendered.container(name)["env"]]
                assert names.index(var) < names.index("INBOX__AUTH__CALLERS"), (name, var)
        else:
            assert "INBOX__AUTH__CALLERS" not in env, name

        if name in POSTGRES_SERVICES:
            assert "value" not in env["INBOX__POSTGRES__URL"], f"{name}: Postgres URL must come from the Secret"
            assert secret_ref(env["INBOX__POSTGRES__URL"]) == (secret_name, f"postgresUrl-{name}")
        else:
            assert "INBOX__POSTGRES__URL" not in env, name

        if name in REDIS_SERVICES:
            assert env["INBOX__REDIS__URL"]["value"] == redis, name
        else:
            assert "INBOX__REDIS__URL" not in env, name

        # Each service its own NATS user (on by default) and Redis ACL user (custom turns it
        # on), named after the service, its password from the Secret.
        if which == "default":
            assert env["INBOX__NATS__USER"]["value"] == name, name
            assert secret_ref(env["INBOX__NATS__PASSWORD"]) == (secret_name, f"natsPassword-{name}"), name
        else:
            assert "INBOX__NATS__USER" not in env and "INBOX__NATS__PASSWORD" not in env, name
        if which == "custom" and name in REDIS_SERVICES:
            assert env["INBOX__REDIS__USERNAME"]["value"] == name, name
            assert secret_ref(env["INBOX__REDIS__PASSWORD"]) == (secret_name, f"redisPassword-{name}"), name
        else:
            assert "INBOX__REDIS__USERNAME" not in env and "INBOX__REDIS__PASSWORD" not in env, name

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


# Who calls whom over gRPC: (caller, callee) -> the variable the caller reads.
CALLS = {
    ("gateway", "conversation"): "INBOX__GATEWAY__CONVERSATION_URL",
    ("gateway", "channel-ingest"): "INBOX__GATEWAY__CHANNEL_INGEST_URL",
    ("gateway", "routing"): "INBOX__GATEWAY__ROUTING_URL",
    ("gateway", "notification"): "INBOX__GATEWAY__NOTIFICATION_URL",
    ("gateway", "search"): "INBOX__GATEWAY__SEARCH_URL",
    ("gateway", "metrics"): "INBOX__GATEWAY__METRICS_URL",
    ("routing", "conversation"): "INBOX__ROUTING__CONVERSATION_URL",
    ("notification", "routing"): "INBOX__NOTIFICATION__ROUTING_URL",
    ("metrics", "conversation"): "INBOX__METRICS__CONVERSATION_URL",
    ("search", "conversation"): "INBOX__SEARCH__CONVERSATION_URL",
    ("search", "routing"): "INBOX__SEARCH__ROUTING_URL",
}


def test_every_service_finds_the_services_it_calls() -> None:
    """With a release name that gets the chart name appended, the URLs still hit real Services."""
    rendered = Rendered(None, release="prod")
    services = rendered.of_kind("Service")
    for name in SERVICES:
        kind = "StatefulSet" if name == "search" else "Deployment"
        containers = rendered.get(kind, f"prod-inbox-{name}")["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in containers[0]["env"]}
        urls = {k for k in env if k.endswith("_URL") and k not in ("INBOX__POSTGRES__URL", "INBOX__NATS__URL", "INBOX__REDIS__URL")}
        expected = {var for (caller, _), var in CALLS.items() if caller == name}
        assert urls == expected, name
        for (caller, target), var in CALLS.items():
            if caller != name:
                continue
            url = urlsplit(env[var]["value"])
            assert url.scheme == "http"
            assert url.hostname == f"prod-inbox-{target}"
            ports = {p["name"]: p["port"] for p in services[url.hostname]["spec"]["ports"]}
            assert url.port == ports["grpc"] == PORTS[target][1]


def test_secret_default_holds_every_referenced_key(default: Rendered) -> None:
    secret = default.get("Secret", RELEASE)
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    for key in ("jwtSecret", "operatorToken"):
        assert len(data[key]) >= 32, key
    tokens = [data[f"serviceToken-{name}"] for name in SERVICES]
    assert len(set(tokens)) == len(SERVICES), "each service has a token of its own"
    for name in SERVICES:
        token = data[f"serviceToken-{name}"]
        assert len(token) >= 32, name
        assert data[f"serviceTokenSha256-{name}"] == hashlib.sha256(token.encode()).hexdigest(), name
    nats_passwords = [data[f"natsPassword-{name}"] for name in SERVICES]
    assert len(set(nats_passwords)) == len(SERVICES) and min(map(len, nats_passwords)) >= 32
    assert {k for k in data if k.startswith("redisPassword-")} == {f"redisPassword-{s}" for s in REDIS_SERVICES}
    assert len({data[f"redisPassword-{s}"] for s in REDIS_SERVICES} | set(nats_passwords)) == len(SERVICES) + len(REDIS_SERVICES)
    kid, key = data["channelSecretsKeys"].split(":")
    assert kid == "k1" and len(base64.b64decode(key)) == 32
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


def test_hpa_by_default_for_gateway_and_channel_ingest(default: Rendered) -> None:
    hpas = default.of_kind("HorizontalPodAutoscaler")
    assert sorted(hpas) == [f"{RELEASE}-channel-ingest", f"{RELEASE}-gateway"]
    for name in ("gateway", "channel-ingest"):
        hpa = hpas[f"{RELEASE}-{name}"]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{RELEASE}-{name}"}
        assert hpa["spec"]["minReplicas"] >= 2
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        # The HPA owns the replica count; the others take it from values.
        assert "replicas" not in default.workload(name)["spec"]
        # CPU utilisation is measured against the request.
        assert default.container(name)["resources"]["requests"]["cpu"]
    with helm.Chart.load(CHART) as chart:
        defaults = chart.values["services"]
    for name in SERVICES:
        if name not in ("gateway", "channel-ingest"):
            assert default.workload(name)["spec"]["replicas"] == defaults[name]["replicas"], name


def test_channel_ingest_scales_on_jetstream_lag_when_asked(production: Rendered) -> None:
    hpa = production.get("HorizontalPodAutoscaler", f"{RELEASE}-channel-ingest")
    external = [m for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    assert len(external) == 1
    metric = external[0]["external"]
    assert metric["metric"]["name"] == "jetstream_consumer_num_pending"
    assert metric["metric"]["selector"]["matchExpressions"] == [
        {"key": "consumer_name", "operator": "In", "values": ["channel-ingest-whatsapp", "channel-ingest-webchat"]}
    ]
    assert metric["target"] == {"type": "AverageValue", "averageValue": "500"}
    # The gateway's HPA stays on CPU.
    gateway = production.get("HorizontalPodAutoscaler", f"{RELEASE}-gateway")
    assert [m["type"] for m in gateway["spec"]["metrics"]] == ["Resource"]


def test_every_service_has_a_pod_disruption_budget_by_default(default: Rendered) -> None:
    pdbs = default.of_kind("PodDisruptionBudget")
    assert sorted(pdbs) == sorted(f"{RELEASE}-{s}" for s in SERVICES)
    for name in SERVICES:
        assert pdbs[f"{RELEASE}-{name}"]["spec"]["selector"]["matchLabels"] == default.workload(name)["spec"]["selector"]["matchLabels"]


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


# --- Policies every render must keep -----------------------------------------------------------


def containers_of(doc: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) of every container and init container of a workload."""
    kind = doc["kind"]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        pod = doc["spec"]["template"]["spec"]
    elif kind == "CronJob":
        pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    elif kind == "Pod":
        pod = doc["spec"]
    else:
        return []
    return [(pod, c) for c in pod.get("initContainers", []) + pod["containers"]]


def test_policy_no_container_runs_as_root(both: Rendered) -> None:
    for doc in both.docs:
        for pod, container in containers_of(doc):
            pod_sc, sc = pod.get("securityContext", {}), container.get("securityContext", {})
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, container["name"]
            user = sc.get("runAsUser", pod_sc.get("runAsUser"))
            assert isinstance(user, int) and user > 0, (container["name"], user)
            assert sc.get("allowPrivilegeEscalation") is False, container["name"]
            assert sc.get("readOnlyRootFilesystem") is True, container["name"]
            assert not sc.get("privileged", False), container["name"]


def test_policy_images_are_pinned(both: Rendered) -> None:
    for doc in both.docs:
        for _, container in containers_of(doc):
            image = container["image"]
            name, _, tag = image.rpartition(":")
            assert name and "/" not in tag, f"{image}: no tag"
            assert tag != "latest", f"{image}: the latest tag"


def test_policy_every_container_has_requests_and_limits(both: Rendered) -> None:
    for doc in both.docs:
        for _, container in containers_of(doc):
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), (doc["metadata"]["name"], kind)


def test_policy_every_container_has_probes(both: Rendered) -> None:
    for doc in both.docs:
        for _, container in containers_of(doc):
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert probe in container, (doc["metadata"]["name"], probe)


def test_policy_every_service_has_a_network_policy(default: Rendered, production: Rendered) -> None:
    for rendered in (default, production):
        policies = rendered.of_kind("NetworkPolicy")
        for name in SERVICES:
            policy = policies[f"{RELEASE}-{name}"]
            pod_labels = rendered.workload(name)["spec"]["template"]["metadata"]["labels"]
            selector = policy["spec"]["podSelector"]["matchLabels"]
            assert selector.items() <= pod_labels.items(), name
            assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"], name
            for other in SERVICES:
                if other != name:
                    other_labels = rendered.workload(other)["spec"]["template"]["metadata"]["labels"]
                    assert not selector.items() <= other_labels.items(), (name, other)


def test_policy_checks_are_not_vacuous(default: Rendered) -> None:
    """Each policy check above fails on a workload that breaks it."""
    deployment = copy.deepcopy(default.get("Deployment", f"{RELEASE}-gateway"))
    broken = Rendered.__new__(Rendered)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "ghcr.io/inbox/inbox-gateway:latest"
    broken.docs = [deployment]
    with pytest.raises(AssertionError):
        test_policy_images_are_pinned(broken)
    container["image"] = "ghcr.io/inbox/inbox-gateway:1.0"
    container["securityContext"]["runAsUser"] = 0
    with pytest.raises(AssertionError):
        test_policy_no_container_runs_as_root(broken)
    del container["resources"]["limits"]
    with pytest.raises(AssertionError):
        test_policy_every_container_has_requests_and_limits(broken)
    del container["readinessProbe"]
    with pytest.raises(AssertionError):
        test_policy_every_container_has_probes(broken)


# --- Network policies: each service reachable only by its callers ------------------------------


def component_of(peer: dict[str, Any]) -> str | None:
    return peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")


@pytest.mark.parametrize("which", ["default", "production"])
def test_network_policies_follow_the_call_graph(which: str, request: pytest.FixtureRequest) -> None:
    rendered: Rendered = request.getfixturevalue(which)
    values = PRODUCTION_VALUES["networkPolicy"] if which == "production" else None
    for name, (http, grpc) in PORTS.items():
        spec = rendered.get("NetworkPolicy", f"{RELEASE}-{name}")["spec"]
        callers = {caller for (caller, callee) in CALLS if callee == name}
        callees = {callee for (caller, callee) in CALLS if caller == name}

        grpc_from: set[str] = set()
        http_rules = []
        admin_rules = []
        for rule in spec["ingress"]:
            ports = {p["port"] for p in rule["ports"]}
            if ports == {"grpc"}:
                grpc_from |= {component_of(p) for p in rule["from"]}
                # Only pods of this release's services: no namespace-wide peers.
                assert all("namespaceSelector" not in p for p in rule["from"]), name
            elif ports == {"admin"}:
                admin_rules.append(rule)
            else:
                assert ports == {"http"}, (name, ports)
                http_rules.append(rule)
        assert grpc_from == callers, name
        # Prometheus everywhere, on the admin port only; the ingress controller only at the
        # public edge, on the http port.
        assert len(admin_rules) == 1, name
        assert len(http_rules) == (1 if name in ("gateway", "channel-ingest") else 0), name
        for rule in http_rules + admin_rules:
            for peer in rule["from"]:
                assert "namespaceSelector" in peer and "podSelector" in peer, name
        if values:
            name_of = lambda rules: {p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for r in rules for p in r["from"]}
            ingress_controller = values["ingressController"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            prometheus = values["prometheus"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            assert name_of(admin_rules) == {prometheus}, name
            assert name_of(http_rules) == ({ingress_controller} if http_rules else set()), name

        egress_to_services = set()
        egress_ports: set[int] = set()
        internet = False
        for rule in spec["egress"]:
            ports = {p["port"] for p in rule["ports"]}
            egress_ports |= ports
            peers = rule.get("to", [])
            components = {component_of(p) for p in peers} - {None}
            if components:
                egress_to_services |= components
                assert ports == {PORTS[c][1] for c in components}, name
            if any(p.get("ipBlock", {}).get("cidr") == "0.0.0.0/0" for p in peers):
                internet = True
                assert ports == {443}, name
        assert egress_to_services == callees, name
        assert 53 in egress_ports and 4222 in egress_ports, name
        assert (5432 in egress_ports) == (name in POSTGRES_SERVICES), name
        assert (6379 in egress_ports) == (name in REDIS_SERVICES), name
        assert internet == (name in ("channel-ingest", "notification")), name
        if which == "production":
            nats_rule = next(r for r in spec["egress"] if {p["port"] for p in r["ports"]} == {4222})
            assert nats_rule["to"] == PRODUCTION_VALUES["networkPolicy"]["nats"]["to"], name


# --- Monitoring: ServiceMonitors, alert rules, dashboard ---------------------------------------


def test_service_monitors_scrape_every_service(production: Rendered, default: Rendered) -> None:
    assert default.of_kind("ServiceMonitor") == {}
    monitors = production.of_kind("ServiceMonitor")
    assert sorted(monitors) == sorted(f"{RELEASE}-{s}" for s in SERVICES)
    services = production.of_kind("Service")
    for name in SERVICES:
        monitor = monitors[f"{RELEASE}-{name}"]
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        selector = monitor["spec"]["selector"]["matchLabels"]
        matched = [s for s in services.values() if selector.items() <= s["metadata"]["labels"].items()]
        # The Service of the service (and search's headless one), never another service's.
        assert {s["metadata"]["name"] for s in matched} <= {f"{RELEASE}-{name}", f"{RELEASE}-{name}-headless"}
        assert f"{RELEASE}-{name}" in {s["metadata"]["name"] for s in matched}
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        assert monitor["spec"]["endpoints"] == [{"port": "admin", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}]


def exported_metrics() -> set[str]:
    """Every metric the services and libraries register (`register_*!("name", ...)`), with the
    series a histogram exposes."""
    names: set[str] = set()
    pattern = re.compile(r'register_[a-z_]+!\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"', re.S)
    for root in ("services", "libs"):
        for path in (REPO / root).rglob("*.rs"):
            for name in pattern.findall(path.read_text(errors="replace")):
                names |= {name, f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


# Metrics that come from elsewhere: Prometheus itself, and the NATS exporter
# (prometheus-nats-exporter -jsz=all) for JetStream consumer lag.
EXTERNAL_METRICS = {"up", "jetstream_consumer_num_pending"}

PROMQL_FUNCTIONS = {
    "abs", "absent", "avg_over_time", "ceil", "clamp_max", "clamp_min", "count_over_time", "delta", "deriv",
    "floor", "histogram_quantile", "increase", "irate", "label_replace", "max_over_time", "min_over_time",
    "predict_linear", "rate", "resets", "round", "sort", "sort_desc", "sum_over_time", "time", "vector",
    "sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile", "stddev", "group", "scalar",
}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


def metrics_in(expr: str) -> set[str]:
    """The metric names a PromQL expression selects; raises ValueError on an expression that
    does not parse as far as these checks go (unbalanced brackets or quotes, an unknown
    function, a bad range)."""
    if expr.count('"') % 2:
        raise ValueError(f"unbalanced quotes: {expr}")
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    depth = {"(": 0, "{": 0, "[": 0}
    closing = {")": "(", "}": "{", "]": "["}
    for ch in text:
        if ch in depth:
            depth[ch] += 1
        elif ch in closing:
            depth[closing[ch]] -= 1
            if depth[closing[ch]] < 0:
                raise ValueError(f"unbalanced {ch}: {expr}")
    if any(depth.values()):
        raise ValueError(f"unbalanced brackets: {expr}")
    for window in re.findall(r"\[([^\]]*)\]", text):
        if not re.fullmatch(r"\d+[smhdwy](:\d+[smhdwy])?", window.strip()):
            raise ValueError(f"bad range [{window}]: {expr}")
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end():].lstrip()[:1]
        if following == "(":
            if word not in PROMQL_FUNCTIONS:
                raise ValueError(f"unknown function {word}: {expr}")
            continue
        if word in PROMQL_KEYWORDS or word in PROMQL_FUNCTIONS:
            continue
        names.add(word)
    if not names:
        raise ValueError(f"selects no metric: {expr}")
    return names


def test_the_expression_checker_refuses_mistakes() -> None:
    assert metrics_in('sum by (job) (rate(inbox_http_request_seconds_count{status=~"5.."}[5m]))') == {
        "inbox_http_request_seconds_count"
    }
    for bad in ["sum(rate(x[5m])", 'rate(x{a="b}[5m])', "rate(x[5 minutes])", "rated(x[5m])", "sum(1)"]:
        with pytest.raises(ValueError):
            metrics_in(bad)
    assert "inbox_no_such_metric_total" not in exported_metrics()
    assert "inbox_bus_dead_letters_total" in exported_metrics()


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_alert_rules_are_well_formed_and_name_exported_metrics() -> None:
    doc = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    groups = [g["name"] for g in doc["groups"]]
    assert len(groups) == len(set(groups))
    exported = exported_metrics() | EXTERNAL_METRICS
    names = [r["alert"] for r in alert_rules()]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in alert_rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        unknown = metrics_in(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']} names metrics nobody exports: {unknown}"


def test_alert_rules_cover_what_operations_watch() -> None:
    covered = " ".join(r["expr"] for r in alert_rules())
    for metric in [
        "inbox_bus_dead_letters_total",
        "jetstream_consumer_num_pending",
        "inbox_ingest_webhooks_total",
        "inbox_notification_sla_alerts_total",
        "inbox_http_request_seconds_count",
    ]:
        assert metric in covered, metric
    five_xx = next(r for r in alert_rules() if r["alert"] == "InboxHttp5xx")
    assert 'status=~"5.."' in five_xx["expr"]


def test_prometheus_rule_ships_the_rules_verbatim(production: Rendered, default: Rendered) -> None:
    assert default.of_kind("PrometheusRule") == {}
    rule = production.get("PrometheusRule", RELEASE)
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"] == yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    # Prometheus's own templates survive Helm's.
    assert "{{ $labels.consumer }}" in json.dumps(rule["spec"])


def test_dashboard_is_valid_and_charts_exported_metrics(production: Rendered, default: Rendered) -> None:
    assert default.of_kind("ConfigMap") == {}
    config_map = production.get("ConfigMap", f"{RELEASE}-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["inbox-fleet.json"])
    assert dashboard == json.loads((CHART / "files" / "dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"]
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    exported = exported_metrics() | EXTERNAL_METRICS
    charted = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            names = metrics_in(target["expr"])
            assert not names - exported, (panel["title"], names - exported)
            charted |= names
    for metric in ["inbox_bus_dead_letters_total", "inbox_ingest_webhooks_total", "inbox_http_request_seconds_count"]:
        assert metric in charted, metric


def test_trusted_proxies_reach_both_edges(production: Rendered, default: Rendered) -> None:
    assert production.env("channel-ingest")["INBOX__WEBCHAT__TRUSTED_PROXIES"]["value"] == "10.0.0.0/8"
    assert production.env("gateway")["INBOX__GATEWAY__TRUST_FORWARDED_FOR"]["value"] == "true"
    assert "INBOX__WEBCHAT__TRUSTED_PROXIES" not in default.env("channel-ingest")
    assert "INBOX__GATEWAY__TRUST_FORWARDED_FOR" not in default.env("gateway")


def test_channel_secrets_keys_come_from_the_secret(default: Rendered, production: Rendered) -> None:
    env = default.env("channel-ingest")
    assert secret_ref(env["INBOX__SECRETS__KEYS"]) == (RELEASE, "channelSecretsKeys")
    assert env["INBOX__SECRETS__ACTIVE_KEY"]["value"] == "k1"
    env = production.env("channel-ingest")
    assert secret_ref(env["INBOX__SECRETS__KEYS"]) == ("inbox-credentials", "channelSecretsKeys")
    assert env["INBOX__SECRETS__ACTIVE_KEY"]["value"] == "k2025"
    for name in SERVICES:
        if name != "channel-ingest":
            assert "INBOX__SECRETS__KEYS" not in default.env(name)


def test_production_values_point_at_managed_services(production: Rendered) -> None:
    for name in SERVICES:
        env = production.env(name)
        assert env["INBOX__NATS__URL"]["value"].startswith("tls://"), name
        assert secret_ref(env["INBOX__NATS__PASSWORD"]) == ("inbox-credentials", f"natsPassword-{name}"), name
        if name in REDIS_SERVICES:
            assert env["INBOX__REDIS__URL"]["value"].startswith("rediss://"), name
            assert secret_ref(env["INBOX__REDIS__PASSWORD"]) == ("inbox-credentials", f"redisPassword-{name}"), name
        if name in POSTGRES_SERVICES:
            assert secret_ref(env["INBOX__POSTGRES__URL"]) == ("inbox-credentials", f"postgresUrl-{name}")
    assert production.workload("search")["spec"]["replicas"] == 2
    ingress = production.get("Ingress", RELEASE)
    assert ingress["spec"]["tls"][0]["secretName"] == "inbox-tls"


def test_grpc_tls_mounts_the_secret_and_switches_every_peer_to_https(default: Rendered) -> None:
    values = copy.deepcopy(CUSTOM_VALUES)
    values["grpc"] = {"tls": {"enabled": True, "secretName": "inbox-grpc-tls"}}
    rendered = Rendered(values)
    for name in SERVICES:
        env = rendered.env(name)
        assert env["INBOX__GRPC__TLS_CERT_FILE"]["value"] == "/etc/inbox/grpc-tls/tls.crt", name
        assert env["INBOX__GRPC__TLS_KEY_FILE"]["value"] == "/etc/inbox/grpc-tls/tls.key", name
        assert env["INBOX__GRPC__CA_FILE"]["value"] == "/etc/inbox/grpc-tls/ca.crt", name
        pod = rendered.workload(name)["spec"]["template"]["spec"]
        mounts = {m["name"]: m for m in rendered.container(name)["volumeMounts"]}
        assert mounts["grpc-tls"] == {"name": "grpc-tls", "mountPath": "/etc/inbox/grpc-tls", "readOnly": True}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["grpc-tls"]["secret"]["secretName"] == "inbox-grpc-tls", name
        for (caller, target), var in CALLS.items():
            if caller == name:
                assert env[var]["value"] == f"https://{RELEASE}-{target}:{PORTS[target][1]}", (name, var)
        # Off by default: plaintext, nothing mounted.
        env = default.env(name)
        assert not [k for k in env if k.startswith("INBOX__GRPC__") and k != "INBOX__GRPC__ADDR"], name
        assert "grpc-tls" not in {m["name"] for m in default.container(name)["volumeMounts"]}, name
        for (caller, _), var in CALLS.items():
            if caller == name:
                assert env[var]["value"].startswith("http://"), (name, var)
    for doc in rendered.manifests():
        if doc["kind"] in ("Deployment", "StatefulSet"):
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    report = helm.lint(CHART, copy.deepcopy(values), strict=True)
    assert not [m for m in report["messages"] if m["severity"] >= 2] and not report["errors"], report
    with pytest.raises(Exception, match="grpc.tls.secretName"):
        Rendered({"grpc": {"tls": {"enabled": True}}})
