"""examples/elastic-stack: no Docker engine runs here, so check the compose file as deeply as
honestly possible: structure, pinned images, files it mounts, scripts it runs, the collector
configuration's environment, and the commands it passes to our own CLI."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from otel_llm_security.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "examples" / "elastic-stack"
COMPOSE = STACK / "docker-compose.yml"
ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")
COMPOSE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def expand(value: str) -> str:
    """Compose interpolation with the defaults the file gives (no .env)."""
    return COMPOSE_VAR.sub(lambda m: m.group(3) or "", value)


def test_services_and_pinned_images(compose):
    services = compose["services"]
    assert {
        "elasticsearch",
        "kibana",
        "apm-server",
        "otel-collector",
        "import-dashboard",
        "deploy-rules",
    } <= set(services)
    versions = set()
    for name, svc in services.items():
        image = expand(svc["image"])
        assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", image), f"{name}: image not pinned: {image}"
        if image.startswith("docker.elastic.co/"):
            versions.add(image.rsplit(":", 1)[1])
        for dep in svc.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown service {dep}"
    assert len(versions) == 1, f"Elasticsearch, Kibana and APM Server must share a version: {versions}"


def test_every_mounted_file_exists_and_scripts_parse(compose):
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (STACK / source).resolve().exists(), f"{name}: {source} does not exist"
    for script in [*(STACK / "setup").glob("*.sh"), ROOT / "kibana" / "import.sh"]:
        subprocess.run(["sh", "-n", str(script)], check=True)
    for name, svc in compose["services"].items():
        command = " ".join(svc.get("entrypoint") or []) + " " + " ".join(svc.get("command") or [])
        for path in re.findall(r"/setup/[\w.-]+\.sh|/kibana/[\w.-]+\.sh", command):
            folder, file = path.strip("/").split("/")
            local = STACK / "setup" / file if folder == "setup" else ROOT / "kibana" / file
            assert local.exists(), f"{name} runs {path}, missing locally"


def test_collector_gets_every_variable_its_configuration_needs(compose):
    svc = compose["services"]["otel-collector"]
    mounts = {
        v.split(":")[1]: (STACK / v.split(":")[0]).resolve() for v in svc["volumes"] if v.startswith(".")
    }
    configs = [a.split("=", 1)[1] for a in svc["command"] if a.startswith("--config=")]
    assert configs and all(c in mounts for c in configs)
    env = svc["environment"]
    merged_exporters: set[str] = set()
    base = yaml.safe_load(mounts[configs[0]].read_text())
    for config in configs:
        text = mounts[config].read_text()
        for var, default in ENV_REF.findall(text):
            if not default:
                # Either set here, or overridden by a later overlay (the API-key header is
                # replaced by the secret-token overlay).
                assert var in env or var == "ELASTIC_APM_API_KEY", f"{config} needs {var}"
        merged_exporters |= set((yaml.safe_load(text) or {}).get("exporters", {}))
    assert merged_exporters <= set(base["exporters"]), (
        "an overlay configures an exporter the base does not define"
    )
    # In a container the receivers must listen beyond loopback, on the ports compose publishes.
    assert env["OTLP_HTTP_ENDPOINT"].endswith(":4318") and env["OTLP_HTTP_ENDPOINT"].startswith("0.0.0.0")
    assert env["OTLP_GRPC_ENDPOINT"].startswith("0.0.0.0")
    assert {p.split(":")[-1] for p in svc["ports"]} == {"4317", "4318"}
    queue = [v for v in svc["volumes"] if not v.startswith(".")]
    assert queue and queue[0].split(":")[1] == env["OTEL_LLM_SECURITY_QUEUE_DIR"]
    assert env["ELASTIC_APM_SERVER_ENDPOINT"].split(":")[0] == "apm-server"


def test_deploy_command_matches_our_cli():
    script = (STACK / "setup" / "deploy-rules.sh").read_text()
    lines = [line for line in script.splitlines() if line.startswith("otel-llm-security ")]
    assert lines, "deploy-rules.sh does not run the CLI"
    for line in lines:
        argv = shlex.split(line.replace('"$KIBANA_URL"', "http://kibana:5601"))[1:]
        args = build_parser().parse_args(argv)
        assert args.command == "rules" and getattr(args, "func", None)
        assert args.overwrite and args.enabled


def test_app_profile_wires_the_example_to_the_fake_api_and_the_collector(compose):
    services = compose["services"]
    app = services["flask-chat"]
    env = app["environment"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    fake_cmd = " ".join(services["fake-openai"]["entrypoint"])
    port = re.search(r"--port (\d+)", fake_cmd).group(1)
    assert env["OPENAI_BASE_URL"] == f"http://fake-openai:{port}/v1"
    assert "examples/flask-chat/app.py" in " ".join(app["entrypoint"])
    assert (ROOT / "examples" / "flask-chat" / "app.py").exists()
    assert "opentelemetry-instrument" in " ".join(app["entrypoint"])


def test_kibana_import_service_uses_the_shipped_saved_objects(compose):
    svc = compose["services"]["import-dashboard"]
    assert svc["entrypoint"] == ["sh", "/kibana/import.sh"]
    assert any(v.startswith("../../kibana:/kibana") for v in svc["volumes"])
    assert svc["environment"]["KIBANA_URL"] == "http://kibana:5601"
