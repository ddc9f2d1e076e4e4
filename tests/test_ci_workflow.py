"""ci.yml's `action` job, played here as far as it can be without Docker.

The job's own steps are read from .github/workflows/ci.yml and run in order against a fresh moto
server on 127.0.0.1: its `run:` scripts with bash (the awscli of the dev group stands in for the
runner's AWS CLI) and its `uses: ./` steps through the runner harness (entrypoint.py with the
step's inputs and env), the service's addresses (`localhost:5000` from the host, `moto:5000` from
the action's container) pointed at the local server, and `${{ steps.<id>.outputs.<name> }}`
replaced by what the earlier steps wrote. What this cannot show is the runner itself: the image
build, the service container and the Docker network.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness import ROOT, ActionRunner, free_port, parse_github_output

EXPRESSION = re.compile(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}")


def job() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())["jobs"]["action"]


def test_the_action_job_uses_the_moto_service_as_this_test_assumes():
    action_job = job()
    service = action_job["services"]["moto"]
    assert service["image"].startswith("motoserver/moto:")
    assert service["ports"] == ["5000:5000"]
    uses = [step for step in action_job["steps"] if step.get("uses") == "./"]
    assert len(uses) == 2
    assert all(step["env"]["AWS_ENDPOINT_URL"] == "http://moto:5000" for step in uses)
    assert all(step["with"]["source"] == "examples/hello-python" for step in uses)


@pytest.fixture
def moto_url():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_the_action_job_passes_against_moto(tmp_path: Path, moto_url: str):
    action_job = job()
    workspace = tmp_path / "workspace"
    (workspace / "examples").mkdir(parents=True)
    import shutil

    shutil.copytree(ROOT / "examples" / "hello-python", workspace / "examples" / "hello-python")
    runner = ActionRunner(workspace=workspace, tmp=tmp_path)
    outputs: dict[str, dict[str, str]] = {}

    def expand(value: str) -> str:
        value = EXPRESSION.sub(lambda m: outputs.get(m[1], {}).get(m[2], ""), str(value))
        return value.replace("http://localhost:5000", moto_url).replace("http://moto:5000", moto_url)

    job_env = {key: expand(value) for key, value in action_job["env"].items()}
    ran = []
    for index, step in enumerate(action_job["steps"]):
        step_id = step.get("id", f"step{index}")
        env = {**job_env, **{key: expand(value) for key, value in step.get("env", {}).items()}}
        if "run" in step:
            output_file = tmp_path / f"output-{index}"
            output_file.write_text("")
            proc = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", expand(step["run"])],
                cwd=workspace, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                env={
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # the dev group's aws
                    "HOME": str(tmp_path), "GITHUB_OUTPUT": str(output_file),
                    "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", **env,
                },
            )
            assert proc.returncode == 0, f"step {step.get('name')}: {proc.stdout}{proc.stderr}"
            outputs[step_id] = parse_github_output(output_file.read_text())
            ran.append(("run", proc.stdout.strip()))
        elif step.get("uses") == "./":
            inputs = {key: expand(value) for key, value in step["with"].items()}
            result = runner.run(inputs, env)
            assert result.code == 0, result.stdout + result.stderr
            outputs[step_id] = result.outputs
            ran.append(("action", result.outputs.get("changed")))
        else:
            assert step["uses"].startswith("actions/checkout@"), f"unexpected step {step}"
    assert [kind for kind, _ in ran] == ["run", "action", "action", "run"]
    assert ran[-1][1] == "create: changed=true version=1; redeploy: changed=false version=1"


def test_the_check_step_fails_when_the_redeploy_changed_something(tmp_path: Path):
    """The last step can fail: outputs of a second deploy that published again are refused."""
    check = job()["steps"][-1]
    env = {"FIRST_CHANGED": "true", "FIRST_VERSION": "1", "SECOND_CHANGED": "true", "SECOND_VERSION": "2"}
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", check["run"]], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL, env={"PATH": os.environ["PATH"], **env},
    )
    assert proc.returncode == 1
    assert "::error::second deploy: changed is 'true', expected false" in proc.stdout
