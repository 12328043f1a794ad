"""The deployment recipes of `deploy/`, run as written: the Dockerfile's command and environment, the
Kubernetes manifest's probes, ports and grace period, the systemd unit's command and stop timeout.

No container runtime runs here: each recipe is parsed, never restated, and its command runs on this
machine with the environment it sets.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.demo.conftest import REPO_ROOT, free_port

pytestmark = pytest.mark.process

DEPLOY = REPO_ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
# The drain's own backstop beyond its delay and timeout (chatkit.asgi._serve).
BACKSTOP_SECONDS = 5


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            instructions.append((instruction.upper(), rest.strip()))
    return instructions


def instruction(name: str) -> list[str]:
    return [rest for kind, rest in dockerfile() if kind == name]


def docker_environment() -> dict[str, str]:
    return dict(token.split("=", 1) for rest in instruction("ENV") for token in shlex.split(rest))


def kubernetes() -> dict[str, dict[str, Any]]:
    documents = yaml.safe_load_all((DEPLOY / "kubernetes" / "chatkit.yaml").read_text())
    return {document["kind"]: document for document in documents}


def systemd_service() -> configparser.SectionProxy:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "systemd" / "chatkit.service").read_text())
    return unit["Service"]


class Served:
    """A recipe's command running in a folder holding the user's `app.py`."""

    def __init__(self, command: list[str], environment: Mapping[str, str], folder: Path, port: int) -> None:
        (folder / "app.py").write_text("from tests.demo.sample_servers import make_server  # noqa: F401\n")
        env = {key: value for key, value in os.environ.items() if not key.startswith(("CHATKIT_", "OPENAI_"))}
        env.update(environment)
        env.update(PORT=str(port), PYTHONPATH=str(REPO_ROOT))
        self.environment = env
        self.log = folder / "serve.log"
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(command, cwd=folder, env=env, stdout=sink, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.log.read_text()
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.1)

    def stop(self) -> None:
        """Make sure the process is gone (the tests that do not stop it themselves)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def terminate(self, within: float) -> int:
        """Send SIGTERM as an orchestrator does; the exit status, which must come within `within` seconds."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"still running {within} s after SIGTERM:\n{self.log.read_text()}")


def local(command: list[str]) -> list[str]:
    """`command` with its `chatkit` program taken from this venv."""
    program = Path(command[0])
    assert program.name == "chatkit", command
    return [str(VENV_BIN / "chatkit"), *command[1:]]


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Served]:
    """The Dockerfile's entry point and command, with its environment and a DATABASE_URL as `docker run -e` gives."""
    (entrypoint,) = instruction("ENTRYPOINT")
    (command,) = instruction("CMD")
    environment = {**docker_environment(), "DATABASE_URL": "sqlite:///chat.db"}
    served = Served(local(json.loads(entrypoint) + json.loads(command)), environment, tmp_path, free_port())
    yield served
    served.stop()


def test_the_dockerfile_runs_as_a_user_on_a_slim_python_and_checks_its_health(container: Served) -> None:
    (base,) = instruction("FROM")
    assert re.fullmatch(r"python:3\.\d+-slim", base), base
    (user,) = instruction("USER")
    assert user not in ("root", "0")
    (exposed,) = instruction("EXPOSE")
    assert exposed == docker_environment()["PORT"]
    # The HEALTHCHECK command, as Docker would run it inside the container.
    (healthcheck,) = instruction("HEALTHCHECK")
    probe = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert probe[0] == "python"
    checked = subprocess.run([sys.executable, *probe[1:]], env=container.environment, timeout=10, check=False)
    assert checked.returncode == 0
    assert httpx.get(f"{container.url}/readyz").status_code == 200
    environment = docker_environment()
    delay, timeout = float(environment["CHATKIT_DRAIN_DELAY"]), float(environment["CHATKIT_DRAIN_TIMEOUT"])
    assert delay + timeout + BACKSTOP_SECONDS <= 30, "the drain must fit Kubernetes' default grace period"
    # Idle, the drain takes its delay (for the load balancer) and no more.
    started = time.monotonic()
    assert container.terminate(within=delay + 10) in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
    assert time.monotonic() - started >= delay


def test_the_kubernetes_manifest_probes_paths_the_app_answers_within_its_grace_period(container: Served) -> None:
    manifests = kubernetes()
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    (spec,) = pod["containers"]
    env = {item["name"]: item.get("value") for item in spec["env"]}
    (port,) = spec["ports"]
    assert str(port["containerPort"]) == env["PORT"] == docker_environment()["PORT"]
    for probe in ("livenessProbe", "readinessProbe"):
        action = spec[probe]["httpGet"]
        assert action["port"] == port["name"]
        assert httpx.get(f"{container.url}{action['path']}").status_code == 200, probe
    assert spec["args"] == json.loads(instruction("CMD")[0])
    drain = float(env["CHATKIT_DRAIN_DELAY"]) + float(env["CHATKIT_DRAIN_TIMEOUT"]) + BACKSTOP_SECONDS
    assert pod["terminationGracePeriodSeconds"] >= drain
    labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    assert manifests["PodDisruptionBudget"]["spec"]["minAvailable"] < manifests["Deployment"]["spec"]["replicas"]
    assert manifests["Service"]["spec"]["selector"] == labels


def test_the_systemd_unit_serves_and_stops_within_its_timeout(tmp_path: Path) -> None:
    service = systemd_service()
    command = shlex.split(service["ExecStart"])
    environment = dict(token.split("=", 1) for token in shlex.split(service["Environment"]))
    assert service["KillSignal"] == "SIGTERM"
    stop_timeout = float(service["TimeoutStopSec"])
    drain = float(environment["CHATKIT_DRAIN_DELAY"]) + float(environment["CHATKIT_DRAIN_TIMEOUT"])
    assert drain + BACKSTOP_SECONDS <= stop_timeout
    served = Served(local(command), {**environment, "DATABASE_URL": "sqlite:///chat.db"}, tmp_path, free_port())
    try:
        assert httpx.get(f"{served.url}/readyz").status_code == 200
        assert served.terminate(within=stop_timeout) in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
    finally:
        served.stop()
