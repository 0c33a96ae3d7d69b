"""Deployment files: docker-compose.yml, Dockerfile and the kustomize tree under k8s/.

Structure is checked with PyYAML. `docker compose config` and `kubectl kustomize` run too
when those tools are installed (skipped, with the reason, when they are not).
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
K8S = ROOT / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"

WEB_COMMAND = [
    "granian",
    "--interface",
    "wsgi",
    "--host",
    "0.0.0.0",
    "--port",
    "8000",
    "--workers",
    "2",
    "--static-path-mount",
    "/app/var/staticfiles",
    "bizmitra.wsgi:application",
]
REALTIME_COMMAND = ["daphne", "-b", "0.0.0.0", "-p", "8001", "bizmitra.asgi:application"]
WORKER_COMMAND = ["celery", "-A", "bizmitra", "worker", "-l", "info"]
BEAT_COMMAND = ["celery", "-A", "bizmitra", "beat", "-l", "info"]
MIGRATE_SHARED = "python manage.py migrate_schemas --shared"
MIGRATE_TENANTS = "python manage.py migrate_schemas --tenant --executor=multiprocessing"
APP_SERVICES = ("web", "realtime", "worker", "beat")
# What BIZMITRA_ENV=production refuses to start without (bizmitra/settings/base.py).
REQUIRED_IN_PRODUCTION = {
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "FIELD_ENCRYPTION_KEYS",
    "ALLOWED_HOSTS",
    "META_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
}


def env_example_names() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def as_list(command) -> list[str]:
    return command.split() if isinstance(command, str) else list(command)


def command_text(command) -> str:
    return " ".join(as_list(command))


# --- docker compose ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_has_every_process(compose):
    services = compose["services"]
    assert {"postgres", "redis", "migrate", *APP_SERVICES} <= set(services)
    assert as_list(services["web"]["command"]) == WEB_COMMAND
    assert as_list(services["realtime"]["command"]) == REALTIME_COMMAND
    assert as_list(services["worker"]["command"]) == WORKER_COMMAND
    assert as_list(services["beat"]["command"]) == BEAT_COMMAND
    migrate = command_text(services["migrate"]["command"])
    assert MIGRATE_SHARED in migrate and MIGRATE_TENANTS in migrate
    assert migrate.index(MIGRATE_SHARED) < migrate.index(MIGRATE_TENANTS)
    assert "beat" not in services["worker"]["command"], "beat runs as its own service, exactly once"


def test_compose_backing_services_have_healthchecks(compose):
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert "pg_isready" in command_text(services["postgres"]["healthcheck"]["test"])
    assert "ping" in command_text(services["redis"]["healthcheck"]["test"])


def test_compose_app_services_wait_for_migrations_and_healthy_backends(compose):
    services = compose["services"]
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_ports_and_healthchecks(compose):
    services = compose["services"]
    assert any(str(p).endswith(":8000") for p in services["web"]["ports"])
    assert any(str(p).endswith(":8001") for p in services["realtime"]["ports"])
    assert "127.0.0.1:8000/healthz" in command_text(services["web"]["healthcheck"]["test"])
    assert "127.0.0.1:8001/healthz" in command_text(services["realtime"]["healthcheck"]["test"])
    assert "inspect ping" in command_text(services["worker"]["healthcheck"]["test"])
    # beat and migrate serve no HTTP: the image's /healthz check must not mark them unhealthy.
    assert services["beat"]["healthcheck"] == {"disable": True}
    assert services["migrate"]["healthcheck"] == {"disable": True}


def test_compose_environment_covers_env_example_with_defaults(compose):
    for name in ("migrate", *APP_SERVICES):
        environment = compose["services"][name]["environment"]
        assert env_example_names() <= set(environment), name
        assert "@postgres:" in environment["DATABASE_URL"] and "//redis:" in environment["REDIS_URL"]
    # Every ${VAR} has a default, so `docker compose config` works without a .env file.
    text = COMPOSE_FILE.read_text()
    for match in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}", text):
        assert match.group(2).startswith((":-", "-")), f"${{{match.group(1)}}} has no default"


def test_compose_builds_the_image_once(compose):
    services = compose["services"]
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["migrate"]
    for name in APP_SERVICES:
        assert services[name]["image"] == services["migrate"]["image"], name


def docker_compose_available() -> str | None:
    """None when `docker compose` works, else why not."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        result = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`docker compose version` failed: {exc}"
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        return f"the docker compose plugin is not installed ({said[0] if said else result.returncode})"
    return None


def test_docker_compose_config_passes_without_env_file():
    reason = docker_compose_available()
    if reason:
        pytest.skip(reason)
    # Only PATH/HOME: no variable of ours, and an empty env file instead of a local .env.
    env = {key: os.environ[key] for key in ("PATH", "HOME", "DOCKER_CONFIG") if key in os.environ}
    base = ["docker", "compose", "--env-file", os.devnull, "-f", str(COMPOSE_FILE)]
    quiet = subprocess.run([*base, "config", "-q"], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert quiet.returncode == 0, quiet.stderr
    rendered = subprocess.run(
        [*base, "config", "--format", "json"], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT
    )
    assert rendered.returncode == 0, rendered.stderr
    services = json.loads(rendered.stdout)["services"]
    assert services["web"]["environment"]["DATABASE_URL"] == "postgres://bizmitra:bizmitra@postgres:5432/bizmitra"
    assert services["web"]["environment"]["BIZMITRA_ENV"] == "development"


# --- Dockerfile ---------------------------------------------------------------------------


def test_dockerfile():
    text = DOCKERFILE.read_text()
    instructions = re.sub(r"\\\n", " ", text)  # join continuation lines
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    assert re.search(r"apt-get install [^\n]*tesseract-ocr", instructions)
    assert re.search(r"pip install [^\n]*-r requirements\.txt", instructions)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
    collectstatic = next(line for line in instructions.splitlines() if "collectstatic" in line)
    assert "--noinput" in collectstatic
    env_value = re.search(r"BIZMITRA_ENV=(\S+)", collectstatic)
    assert env_value and env_value.group(1) != "production"
    # collectstatic runs as the app user, after USER, so the files are the app user's.
    user_at = re.search(r"^USER ", instructions, re.M).start()
    assert user_at < re.search(r"^RUN .*collectstatic", instructions, re.M).start()
    assert re.search(r"^HEALTHCHECK .*/healthz", instructions, re.M)
    assert re.search(r"^EXPOSE 8000 8001", text, re.M)
    assert "granian" in re.search(r"^CMD .*", instructions, re.M).group(0)


def test_dockerignore_keeps_secrets_and_local_state_out():
    patterns = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".git", ".venv", "var/"} <= patterns


# --- Kubernetes ---------------------------------------------------------------------------


def load_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@pytest.fixture(scope="module")
def base_objects() -> list[dict]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    objects = []
    for resource in kustomization["resources"]:
        objects.extend(load_documents(BASE / resource))
    return objects


def find(objects, kind, name=None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects, kind, name) -> dict:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def container(deployment, name=None) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0] if name is None else next(c for c in containers if c["name"] == name)


def port_number(cont, port) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in cont["ports"] if p["name"] == port)


def test_every_k8s_yaml_file_parses():
    files = sorted(K8S.rglob("*.yaml")) + sorted(K8S.rglob("*.yml"))
    assert files
    for path in files:
        for doc in load_documents(path):
            assert doc.get("apiVersion") and doc.get("kind"), path
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"], path


def test_kustomizations_list_every_resource_file():
    for directory in sorted({p.parent for p in K8S.rglob("kustomization.yaml")}):
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        listed = kustomization.get("resources", [])
        for entry in listed:
            assert (directory / entry).exists(), f"{directory}: {entry} does not exist"
        files_here = {p.name for p in directory.glob("*.y*ml")} - {"kustomization.yaml"}
        assert files_here <= set(listed), f"{directory}: not listed in kustomization.yaml: {files_here - set(listed)}"
    base = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert base["namespace"] == "bizmitra"
    assert "namespace.yaml" in base["resources"]


def test_k8s_deployments_and_commands(base_objects):
    web = one(base_objects, "Deployment", "bizmitra-web")
    realtime = one(base_objects, "Deployment", "bizmitra-realtime")
    worker = one(base_objects, "Deployment", "bizmitra-worker")
    beat = one(base_objects, "Deployment", "bizmitra-beat")
    assert web["spec"]["replicas"] == 2
    assert container(web)["command"] == WEB_COMMAND
    assert container(realtime)["command"] == REALTIME_COMMAND
    # The worker may add flags (--concurrency) after the documented command.
    assert container(worker)["command"][: len(WORKER_COMMAND)] == WORKER_COMMAND
    assert container(beat)["command"] == BEAT_COMMAND
    # The worker is a Deployment of its own, with nothing else in its pods.
    assert len(worker["spec"]["template"]["spec"]["containers"]) == 1
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"


def test_k8s_probes(base_objects):
    for deployment in find(base_objects, "Deployment"):
        name = deployment["metadata"]["name"]
        cont = container(deployment)
        if name == "bizmitra-worker":
            probe = cont["livenessProbe"]["exec"]["command"]
            assert "celery -A bizmitra inspect ping -d" in " ".join(probe) and "celery@$HOSTNAME" in " ".join(probe)
            assert probe[:2] == ["sh", "-c"], "$HOSTNAME is only expanded by a shell"
            continue
        if name == "bizmitra-beat":
            assert not cont.get("ports"), "beat serves nothing"
            continue
        ports = [p["containerPort"] for p in cont["ports"]]
        readiness = cont["readinessProbe"]["httpGet"]
        assert readiness["path"] == "/healthz", name
        assert port_number(cont, readiness["port"]) in ports, name
        # A pod IP is not in ALLOWED_HOSTS: the probe names a host that is.
        assert {"name": "Host", "value": "localhost"} in readiness["httpHeaders"], name
        liveness = cont["livenessProbe"]
        if "httpGet" in liveness:
            assert liveness["httpGet"]["path"] == "/healthz", name
        else:
            assert port_number(cont, liveness["tcpSocket"]["port"]) in ports, name
    web = container(one(base_objects, "Deployment", "bizmitra-web"))
    assert port_number(web, web["livenessProbe"]["httpGet"]["port"]) == 8000
    assert port_number(web, web["readinessProbe"]["httpGet"]["port"]) == 8000
    realtime = container(one(base_objects, "Deployment", "bizmitra-realtime"))
    assert port_number(realtime, realtime["readinessProbe"]["httpGet"]["port"]) == 8001


def test_k8s_services_ingress_and_autoscalers(base_objects):
    services = {s["metadata"]["name"]: s for s in find(base_objects, "Service")}
    deployments = {d["metadata"]["name"]: d for d in find(base_objects, "Deployment")}

    def selected(service):
        selector = service["spec"].get("selector", {})
        return {
            name
            for name, d in deployments.items()
            if selector and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        }

    assert selected(services["bizmitra-web"]) == {"bizmitra-web"}
    assert selected(services["bizmitra-realtime"]) == {"bizmitra-realtime"}
    assert not any("bizmitra-worker" in selected(s) or "bizmitra-beat" in selected(s) for s in services.values())
    for name, port in (("bizmitra-web", 8000), ("bizmitra-realtime", 8001)):
        service_port = services[name]["spec"]["ports"][0]
        assert port_number(container(deployments[name]), service_port["targetPort"]) == port

    (ingress,) = find(base_objects, "Ingress")
    routes = {
        path["path"]: path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert routes == {"/ws/": "bizmitra-realtime", "/": "bizmitra-web"}

    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in find(base_objects, "HorizontalPodAutoscaler")}
    assert scaled == {"bizmitra-web", "bizmitra-worker"}


def test_k8s_migrate_job(base_objects):
    (job,) = find(base_objects, "Job")
    command = command_text(container(job)["command"])
    assert MIGRATE_SHARED in command and MIGRATE_TENANTS in command
    assert command.index(MIGRATE_SHARED) < command.index(MIGRATE_TENANTS)
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")


def test_k8s_configuration_covers_every_setting(base_objects):
    config = one(base_objects, "ConfigMap", "bizmitra-config")["data"]
    secret = one(base_objects, "Secret", "bizmitra-secrets")["stringData"]
    assert not set(config) & set(secret), "a setting is defined twice"
    assert env_example_names() <= set(config) | set(secret)
    assert config["BIZMITRA_ENV"] == "production"
    assert REQUIRED_IN_PRODUCTION - {"ALLOWED_HOSTS"} <= set(secret)
    assert "localhost" in config["ALLOWED_HOSTS"].split(","), "the /healthz probes send Host: localhost"
    # Postgres and Redis are outside the cluster, reached through ExternalName Services.
    external = {s["metadata"]["name"] for s in find(base_objects, "Service") if s["spec"].get("type") == "ExternalName"}
    assert {"postgres", "redis"} <= external
    assert "@postgres:" in secret["DATABASE_URL"] and "@redis:" in secret["REDIS_URL"]
    for deployment in [*find(base_objects, "Deployment"), *find(base_objects, "Job")]:
        pod = deployment["spec"]["template"]["spec"]
        for cont in pod.get("initContainers", []) + pod["containers"]:
            sources = {
                ("configMap", s["configMapRef"]["name"]) if "configMapRef" in s else ("secret", s["secretRef"]["name"])
                for s in cont["envFrom"]
            }
            assert sources == {("configMap", "bizmitra-config"), ("secret", "bizmitra-secrets")}, cont["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True


def test_production_overlay():
    overlay = yaml.safe_load((PRODUCTION / "kustomization.yaml").read_text())
    assert "../../base" in overlay["resources"]
    (image,) = overlay["images"]
    assert image["name"] == "bizmitra" and image["newTag"]
    replicas = {r["name"]: r["count"] for r in overlay["replicas"]}
    assert "bizmitra-beat" not in replicas, "beat stays at exactly one replica"
    assert {"bizmitra-web", "bizmitra-worker"} <= set(replicas)


def kustomize_command() -> list[str] | None:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


@pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])
def test_kustomize_build(directory):
    command = kustomize_command()
    if command is None:
        pytest.skip("neither kubectl nor kustomize is installed")
    result = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    objects = load_documents_from_text(result.stdout)
    kinds = sorted(o["kind"] for o in objects)
    assert kinds.count("Deployment") == 4 and kinds.count("Job") == 1
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "bizmitra", obj["metadata"]["name"]
    if directory == PRODUCTION:
        images = {
            c["image"]
            for o in objects
            if o["kind"] in ("Deployment", "Job")
            for c in o["spec"]["template"]["spec"]["containers"]
        }
        assert len(images) == 1 and not images.pop().endswith(":latest")


def load_documents_from_text(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def test_make_run_points_the_demo_at_the_bundled_sandbox():
    """`make run` wires web, sandbox and demo tenant together: the loop works with no Meta account."""
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line and not line.startswith("#")
    )
    assert {"web", "realtime", "worker", "beat", "sandbox"} <= procfile.keys()
    assert "${WEB_PORT:-8000}" in procfile["web"]
    assert "--webhook-url http://127.0.0.1:${WEB_PORT:-8000}/webhooks/whatsapp/" in procfile["sandbox"]
    assert "--port ${SANDBOX_PORT:-8090}" in procfile["sandbox"]
    run_dev = (ROOT / "scripts" / "run_dev.sh").read_text()
    assert 'WHATSAPP_GRAPH_URL="${WHATSAPP_GRAPH_URL:-http://127.0.0.1:${SANDBOX_PORT}}"' in run_dev
    assert "ensure_demo_tenant" in run_dev and "migrate_schemas --tenant --executor=multiprocessing" in run_dev
