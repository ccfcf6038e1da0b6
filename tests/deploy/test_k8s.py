"""deploy/k8s as the ops engineer relies on it, checked without a cluster.

The example overlay and the base are rendered with kustomize, every document of a built-in kind
is validated strictly against the Kubernetes API schemas, and the rendered objects are then read
for what the cluster will do with them:

- every long-running container is probed on ``/healthz`` and ``/readyz`` at a port it declares,
  has resource requests and a memory limit, and runs as non-root on a read-only root filesystem;
- the files the commands name (``--feeds``, ``--topics``, ``--subscribers``) are in the pod,
  with the repository's content: every watch topic and entity, none forgotten;
- the overlay puts everything in its namespace, and every Secret or ConfigMap a pod refers to
  is in the output;
- Prometheus labels the scrapes ``job="newswatch-poller"`` and ``job="newswatch-worker"``, the
  names the alert rules and dashboards select on.

The rendering works on a copy of the files it reads, where ``secrets.env`` is the committed
example: a developer's real ``secrets.env`` is never read.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.deploy.tools import tool

ROOT = Path(__file__).parents[2]
K8S = Path("deploy/k8s")
OVERLAY = K8S / "overlays/example"
BASE = K8S / "base"
#: What the base reads from outside deploy/k8s (hence --load-restrictor LoadRestrictionsNone).
READ_BY_KUSTOMIZE = (Path("deploy/feeds.yaml"), Path("deploy/subscribers.yaml"), Path("topics"))
NAMESPACE = "newswatch"
#: Validated against the oldest Kubernetes the manifests are meant for.
KUBERNETES_VERSION = "1.33.0"
#: Custom resources: kubernetes-validate has no schema for them, so they are not validated.
CRD_KINDS = {("monitoring.coreos.com/v1", "PodMonitor")}
#: The Dockerfile's USER.
IMAGE_UID = 10001
JOBS = {"poller": "newswatch-poller", "worker": "newswatch-worker"}

Doc = dict[str, Any]


# --- rendering -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what kustomize reads, with the example secrets as ``secrets.env``."""
    root = tmp_path_factory.mktemp("repo")
    copy_tree(root)
    shutil.copy(root / OVERLAY / "secrets.env.example", root / OVERLAY / "secrets.env")
    return root


def copy_tree(root: Path) -> None:
    shutil.copytree(ROOT / K8S, root / K8S, ignore=shutil.ignore_patterns("secrets.env"))
    for path in READ_BY_KUSTOMIZE:
        if (ROOT / path).is_dir():
            shutil.copytree(ROOT / path, root / path)
        else:
            shutil.copy(ROOT / path, root / path)


def kustomize(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tool("kustomize")), "build", "--load-restrictor",
                           "LoadRestrictionsNone", str(directory)],
                          capture_output=True, text=True, timeout=120)


def render(directory: Path) -> list[Doc]:
    result = kustomize(directory)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def overlay(tree: Path) -> list[Doc]:
    return render(tree / OVERLAY)


@pytest.fixture(scope="module")
def base(tree: Path) -> list[Doc]:
    return render(tree / BASE)


@pytest.fixture(params=["overlay", "base"])
def rendered(request: pytest.FixtureRequest) -> list[Doc]:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    [doc] = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def workloads(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    """Each Deployment and Job with its pod spec."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc, doc["spec"]["template"]["spec"]


def pod_specs(docs: list[Doc]) -> Iterator[Doc]:
    return (pod for _, pod in workloads(docs))


def deployment(docs: list[Doc], component: str) -> Doc:
    return named(docs, "Deployment", f"newswatch-{component}")


def container(doc: Doc) -> Doc:
    [only] = doc["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


# --- the objects are what Kubernetes accepts -------------------------------------------------

def test_every_built_in_object_passes_strict_schema_validation(
        rendered: list[Doc], tmp_path: Path) -> None:
    built_in = [d for d in rendered if (d["apiVersion"], d["kind"]) not in CRD_KINDS]
    assert len(built_in) < len(rendered), "the PodMonitor is missing"
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(built_in))
    result = subprocess.run([str(tool("kubernetes-validate")), "--strict", "-k",
                             KUBERNETES_VERSION, str(path)],
                            capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # A kind the validator has no schema for is only a warning: here it is an error.
    assert "WARN" not in output and "ERROR" not in output, output
    assert output.count(" passed ") == len(built_in), output


def test_strict_validation_rejects_an_unknown_field(overlay: list[Doc], tmp_path: Path) -> None:
    bad = deployment(overlay, "worker")
    bad = {**bad, "spec": {**bad["spec"], "replica": 2}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = subprocess.run([str(tool("kubernetes-validate")), "--strict", "-k",
                             KUBERNETES_VERSION, str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "replica" in result.stdout + result.stderr


def test_the_overlay_cannot_be_built_without_its_secrets_file(tmp_path: Path) -> None:
    copy_tree(tmp_path)
    result = kustomize(tmp_path / OVERLAY)
    assert result.returncode != 0 and "secrets.env" in result.stderr
    ignored = (ROOT / OVERLAY / ".gitignore").read_text().split()
    assert "secrets.env" in ignored


# --- namespace, image, replicas --------------------------------------------------------------

def test_the_overlay_puts_every_object_in_its_namespace(overlay: list[Doc],
                                                        base: list[Doc]) -> None:
    assert [d["metadata"]["name"] for d in of_kind(overlay, "Namespace")] == [NAMESPACE]
    for doc in overlay:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]["name"]
    assert not of_kind(base, "Namespace")
    assert all("namespace" not in doc["metadata"] for doc in base)


def test_the_overlay_runs_its_tagged_image_and_replicas(overlay: list[Doc],
                                                        base: list[Doc]) -> None:
    for pod in pod_specs(base):
        assert {c["image"] for c in pod["containers"]} == {"newswatch:latest"}
    for pod in pod_specs(overlay):
        assert {c["image"] for c in pod["containers"]} == {"registry.example.org/newswatch:0.1.0"}
    assert deployment(base, "poller")["spec"]["replicas"] == 1
    assert deployment(base, "worker")["spec"]["replicas"] == 2
    assert deployment(overlay, "worker")["spec"]["replicas"] == 3


# --- containers: probes, resources, security -------------------------------------------------

@pytest.mark.parametrize("component", ["poller", "worker", "console"])
def test_every_long_running_container_is_probed_on_a_port_it_declares(
        rendered: list[Doc], component: str) -> None:
    c = container(deployment(rendered, component))
    declared = {p["name"] for p in c["ports"]} | {p["containerPort"] for p in c["ports"]}
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in c:
            assert c[probe]["httpGet"]["port"] in declared, probe
    probed = c["readinessProbe"]["httpGet"]["port"]
    [port] = [p["containerPort"] for p in c["ports"] if probed in (p["name"], p["containerPort"])]
    assert f"{port}" in c["command"], "the command serves another port than the probes ask"


def test_the_worker_has_minutes_to_recover_its_tables_before_liveness_counts(
        overlay: list[Doc]) -> None:
    startup = container(deployment(overlay, "worker"))["startupProbe"]
    assert startup["httpGet"]["path"] == "/healthz"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 180


def test_every_container_requests_resources_and_has_a_memory_limit(rendered: list[Doc]) -> None:
    for doc, pod in workloads(rendered):
        for c in pod["containers"]:
            resources = c["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), doc["metadata"]["name"]
            assert "memory" in resources["limits"], doc["metadata"]["name"]
    worker = container(deployment(rendered, "worker"))["resources"]
    assert (worker["requests"]["memory"], worker["limits"]["memory"]) == ("1Gi", "2Gi")


def test_every_container_runs_as_non_root_on_a_read_only_root_filesystem(
        rendered: list[Doc]) -> None:
    for doc, pod in workloads(rendered):
        for c in pod["containers"]:
            context = {**pod.get("securityContext", {}), **c["securityContext"]}
            name = f"{doc['metadata']['name']}/{c['name']}"
            assert context["runAsNonRoot"] is True, name
            assert context["runAsUser"] == IMAGE_UID, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert context["seccompProfile"]["type"] == "RuntimeDefault", name
            # Python and its libraries write temporary files: /tmp must stay writable.
            assert volume_at(pod, c, "/tmp").get("emptyDir") is not None, name


def test_the_image_runs_as_the_user_the_pods_require() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert re.search(rf"^USER {IMAGE_UID}(:\d+)?$", dockerfile, re.MULTILINE)


def test_stopping_pods_have_time_to_commit_and_leave_the_group(overlay: list[Doc]) -> None:
    for component in JOBS:
        pod = deployment(overlay, component)["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] == 45


# --- what the commands read is in the pod ----------------------------------------------------

def volume_at(pod: Doc, c: Doc, path: str) -> Doc:
    [mount] = [m for m in c.get("volumeMounts", []) if m["mountPath"] == path]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    return volume  # type: ignore[no-any-return]


def files_in_pod(docs: list[Doc], pod: Doc, c: Doc) -> dict[PurePosixPath, str]:
    """Every file the container sees from a ConfigMap: path → content."""
    files = {}
    for mount in c.get("volumeMounts", []):
        [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        if "configMap" not in volume:
            continue
        data = named(docs, "ConfigMap", volume["configMap"]["name"])["data"]
        items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            files[PurePosixPath(mount["mountPath"], item["path"])] = data[item["key"]]
    return files


def option(command: list[str], name: str) -> PurePosixPath:
    return PurePosixPath(command[command.index(name) + 1])


def test_the_poller_reads_the_repository_feeds_file(rendered: list[Doc]) -> None:
    doc = deployment(rendered, "poller")
    c = container(doc)
    files = files_in_pod(rendered, doc["spec"]["template"]["spec"], c)
    assert c["command"][:2] == ["newswatch", "poll"]
    assert files[option(c["command"], "--feeds")] == (ROOT / "deploy/feeds.yaml").read_text()


def test_the_worker_reads_every_watch_topic_entity_and_the_subscribers(
        rendered: list[Doc]) -> None:
    doc = deployment(rendered, "worker")
    c = container(doc)
    files = files_in_pod(rendered, doc["spec"]["template"]["spec"], c)
    assert c["command"][:2] == ["newswatch", "worker"]
    subscribers = option(c["command"], "--subscribers")
    assert files[subscribers] == (ROOT / "deploy/subscribers.yaml").read_text()
    topics = option(c["command"], "--topics")
    # A watch topic added to topics/ but not to the base's generator would never be tagged.
    for directory in (topics, topics / "entities"):
        in_pod = {p.name: text for p, text in files.items() if p.parent == directory}
        in_repo = {p.name: p.read_text()
                   for p in (ROOT / directory.relative_to(topics.parent)).glob("*.yaml")}
        assert in_pod == in_repo, f"{directory}: list every file in deploy/k8s/base"


def test_the_worker_keeps_its_table_state_in_an_empty_dir(rendered: list[Doc]) -> None:
    doc = deployment(rendered, "worker")
    c = container(doc)
    cache = env_of(rendered, c)["NEWSWATCH_CACHE"]
    assert cache == "/var/lib/newswatch"
    assert "emptyDir" in volume_at(doc["spec"]["template"]["spec"], c, cache)


# --- settings and secrets --------------------------------------------------------------------

def env_of(docs: list[Doc], c: Doc) -> dict[str, str]:
    """The variables a container gets from its ConfigMaps and ``env`` (not from Secrets)."""
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            env |= named(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
    env |= {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}
    return env


def test_every_process_logs_json_and_reaches_the_overlays_kafka(overlay: list[Doc]) -> None:
    for doc, pod in workloads(overlay):
        env = env_of(overlay, pod["containers"][0])
        assert env["NEWSWATCH_LOG_FORMAT"] == "json", doc["metadata"]["name"]
        assert env["NEWSWATCH_LOG_LEVEL"] == "INFO"
        assert env["NEWSWATCH_KAFKA_BOOTSTRAP"] == "my-cluster-kafka-bootstrap.kafka.svc:9092"


def test_every_newswatch_variable_set_is_one_newswatch_reads(overlay: list[Doc]) -> None:
    known = set()
    for module in ("monitor/config.py", "monitor/alerting/channels/__init__.py",
                   "monitor/console/auth.py"):
        known |= set(re.findall(r"NEWSWATCH_[A-Z_]+[A-Z]", (ROOT / module).read_text()))
    secrets = env_file(ROOT / OVERLAY / "secrets.env.example")
    for pod in pod_specs(overlay):
        for c in pod["containers"]:
            names = set(env_of(overlay, c)) | set(secrets)
            assert {n for n in names if n.startswith("NEWSWATCH_")} <= known


def env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and line[0] != "#"]
    return dict(line.split("=", 1) for line in lines)


def test_every_secret_and_config_map_a_pod_names_is_in_the_output(overlay: list[Doc]) -> None:
    secrets = {d["metadata"]["name"] for d in of_kind(overlay, "Secret")}
    config_maps = {d["metadata"]["name"] for d in of_kind(overlay, "ConfigMap")}
    referenced = []
    for pod in pod_specs(overlay):
        for c in pod["containers"]:
            for source in c.get("envFrom", []):
                if "secretRef" in source:
                    referenced.append(("Secret", source["secretRef"]["name"]))
                if "configMapRef" in source:
                    referenced.append(("ConfigMap", source["configMapRef"]["name"]))
            for var in c.get("env", []):
                ref = var.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    referenced.append(("Secret", ref["secretKeyRef"]["name"]))
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                referenced.append(("Secret", volume["secret"]["secretName"]))
            if "configMap" in volume:
                referenced.append(("ConfigMap", volume["configMap"]["name"]))
    [secret] = secrets  # newswatch-secrets-<hash of its content>
    assert ("Secret", secret) in referenced, "no pod reads the Secret"
    for kind, name in referenced:
        assert name in (secrets if kind == "Secret" else config_maps), (kind, name)


def test_the_example_secrets_name_every_secret_of_the_subscribers_file() -> None:
    values = yaml.safe_dump(yaml.safe_load((ROOT / "deploy/subscribers.yaml").read_text()))
    wanted = set(re.findall(r"\$\{([A-Z0-9_]+)\}", values))
    assert wanted, "the subscribers file names no secret: is this test still reading it?"
    assert wanted <= set(env_file(ROOT / OVERLAY / "secrets.env.example"))


# --- Kafka topics, disruptions ---------------------------------------------------------------

def test_a_one_shot_job_creates_the_kafka_topics(overlay: list[Doc]) -> None:
    job = named(overlay, "Job", "newswatch-create-topics")
    assert job["spec"]["backoffLimit"] > 0 and job["spec"]["ttlSecondsAfterFinished"] > 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    assert pod["containers"][0]["command"][:2] == ["newswatch", "create-topics"]


def test_a_node_drain_leaves_a_worker_running(overlay: list[Doc]) -> None:
    [budget] = of_kind(overlay, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    worker = deployment(overlay, "worker")
    assert selects(budget["spec"]["selector"], worker["spec"]["template"]["metadata"]["labels"])


# --- Prometheus ------------------------------------------------------------------------------

def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector selects ``labels``."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        has, value = expression["key"] in labels, labels.get(expression["key"])
        match expression["operator"]:
            case "In" if not (has and value in expression["values"]):
                return False
            case "NotIn" if has and value in expression["values"]:
                return False
            case "Exists" if not has:
                return False
            case "DoesNotExist" if has:
                return False
    return True


def test_prometheus_labels_the_scrapes_with_the_jobs_the_rules_select_on(
        overlay: list[Doc]) -> None:
    rules = "".join(p.read_text() for p in (ROOT / "deploy/prometheus/rules").glob("*.yml"))
    assert set(re.findall(r'job="([^"]+)"', rules)) <= set(JOBS.values())
    jobs = {}
    for monitor in of_kind(overlay, "PodMonitor"):
        spec = monitor["spec"]
        for doc, pod in workloads(overlay):
            labels = doc["spec"]["template"]["metadata"]["labels"]
            if not selects(spec["selector"], labels):
                continue
            ports = {p.get("name") for c in pod["containers"] for p in c.get("ports", [])}
            if any(e["port"] in ports for e in spec["podMetricsEndpoints"]):
                jobs[doc["metadata"]["name"]] = labels[spec["jobLabel"]]
    assert jobs == {f"newswatch-{component}": job for component, job in JOBS.items()}


@pytest.mark.parametrize("component", ["poller", "worker"])
def test_the_pods_announce_their_metrics_for_annotation_based_scraping(
        overlay: list[Doc], component: str) -> None:
    template = deployment(overlay, component)["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    ports = {p["containerPort"] for p in container({"spec": {"template": template}})["ports"]}
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) in ports
    assert annotations["prometheus.io/path"] == "/metrics"
