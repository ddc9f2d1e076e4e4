"""Soak: whole runs of the action (main.run in-process, on a fake clock, so bakes and backoff cost
no wall time) with a release and everything that follows the alias (a public function URL,
provisioned concurrency, a smoke test, an error-rate gate), through a proxy failing a fifth of
all requests at random (500, 503, 429, 409, resets before and after the service acted, slow
replies), seeded. Every run either deploys with outputs that match what Lambda serves, or exits 1
with a clear error; none exits 2; the alias never serves a version whose code is not the package
of the run that published it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from faas_action import main, package
from tests.conftest import AWS_TEST_ENV, boto_client
from tests.fakes.clock import FakeClock
from tests.harness import ActionRunner, parse_github_output

FUNCTIONS, RUNS = 4, 3  # each function: created, then released twice with new code (a canary)
pytestmark = pytest.mark.timeout(240)


def weights_of(alias: dict) -> dict:
    return (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def test_release_soak_with_random_faults(lambda_proxy, moto_server, aws_role, function_name, tmp_path, monkeypatch):
    workspace = tmp_path / "workspace"
    (workspace / "app").mkdir(parents=True)
    env = {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": lambda_proxy.url}
    for key, value in env.items():  # botocore reads its settings from the process environment
        monkeypatch.setenv(key, value)
    runner = ActionRunner(workspace=workspace, tmp=tmp_path, base_env=env)
    moto = boto_client("lambda", moto_server)
    outcomes = []
    for index in range(FUNCTIONS):
        name = f"{function_name}-{index}"
        lambda_proxy.script_provisioned(name, in_progress_polls=1, status="READY")
        built: set[str] = set()  # the CodeSha256 of every package a run deployed
        published: dict[str, str] = {}  # version -> the CodeSha256 of the run that reported it
        for run in range(RUNS):
            seed = index * RUNS + run
            (workspace / "app" / "app.py").write_text(f"def handler(event, context):\n    return {seed}\n")
            expected = package.build(workspace / "app", workspace, out_dir=tmp_path).sha256
            built.add(expected)
            outcomes.append(one_run(runner, lambda_proxy, moto, name, aws_role, seed, expected, built, published))
        for version in moto.list_versions_by_function(FunctionName=name)["Versions"]:
            assert version["Version"] == "$LATEST" or version["CodeSha256"] in built
            if version["Version"] in published:
                assert version["CodeSha256"] == published[version["Version"]]
    kinds = {kind for kind, _, _ in lambda_proxy.injected}
    assert {"reset-after", "reset-before"} <= kinds and len(lambda_proxy.injected) >= 3 * FUNCTIONS * RUNS, lambda_proxy.injected
    assert outcomes.count("deployed") >= FUNCTIONS * RUNS * 2 // 3, outcomes


def one_run(runner: ActionRunner, proxy, moto, name: str, role: str, seed: int, expected: str,
            built: set[str], published: dict[str, str]) -> str:
    """One run of the action under chaos; checks what it reports against what Lambda serves."""
    inputs = {
        "provider": "aws", "function-name": name, "source": "app", "runtime": "python3.12",
        "handler": "app.handler", "role": role, "alias": "live", "wait-timeout": "60",
        "function-url": "public", "provisioned-concurrency": "2",
        "traffic": "canary", "traffic-percent": "20", "traffic-interval": "2",
        "smoke-event": '{"ping": 1}', "max-error-rate": "50%",
    }
    environ = runner.env_for(inputs)
    out = io.StringIO()
    proxy.chaos(rate=0.2, seed=seed, slow_s=0.05)
    try:
        code = main.run(environ, out, clock=FakeClock())
    finally:
        proxy.chaos(rate=0.0, seed=seed)
    text = out.getvalue()
    outputs = parse_github_output(Path(environ["GITHUB_OUTPUT"]).read_text())
    errors = [line for line in text.splitlines() if line.startswith("::error")]
    assert code in (0, 1), text
    assert "Traceback" not in text and "crashed" not in text, text

    aliases = {a["Name"]: a for a in moto.list_aliases(FunctionName=name)["Aliases"]}
    if "live" not in aliases:  # a first run that stopped before the release created the alias
        assert code == 1 and errors, text
        return "failed: " + errors[0]
    alias = aliases["live"]
    served = moto.get_function(FunctionName=name, Qualifier=alias["FunctionVersion"])["Configuration"]
    assert served["CodeSha256"] in built, f"the alias serves code no run deployed\n{text}"
    if alias["FunctionVersion"] in published:
        assert served["CodeSha256"] == published[alias["FunctionVersion"]], text

    if code == 1:
        assert errors, text
        if "restoring alias live failed" not in text:
            assert weights_of(alias) == {}, f"the alias was left split\n{text}"
        return "failed: " + errors[0]
    assert errors == [], text
    version = outputs["version"]
    assert (alias["FunctionVersion"], weights_of(alias)) == (version, {}), text
    assert served["CodeSha256"] == expected == outputs["code-sha256"], text
    assert (outputs["traffic"], outputs["rolled-back"]) == ("100", "false"), text
    assert json.loads(outputs["metrics"]).get("function") is not None, text
    url = proxy.urls[(name, "live")]
    assert outputs["url"] == url["FunctionUrl"] and url["AuthType"] == "NONE", text
    assert {s["Action"] for s in proxy.policy_of(name, "live")} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}, text
    provisioned = proxy.provisioned[(name, "live")]
    assert (provisioned["Requested"], provisioned["Status"]) == (2, "READY"), text
    published.setdefault(version, expected)
    return "deployed"
