"""Many functions in one run (issue 11): side by side, nothing lost, fan-out through a matrix.

entrypoint.py runs as the runner runs it, against moto behind the Lambda proxy.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path


from tests.conftest import boto_client
from tests.harness import ENTRYPOINT, parse_github_output


def names_for(count: int) -> list[str]:
    tag = os.urandom(3).hex()
    return [f"many-{tag}-{index}" for index in range(count)]


def write_config(workspace: Path, role: str, names: list[str], extra: str = "", per_function: dict | None = None) -> None:
    (workspace / "app").mkdir(exist_ok=True)
    (workspace / "app" / "app.py").write_text("def handler(event, context):\n    return 'hi'\n")
    lines = ["provider: aws", "source: app", "runtime: python3.12", "handler: app.handler", f"role: {role}", "alias: live"]
    lines += [extra] if extra else []
    lines.append("functions:")
    for name in names:
        lines.append(f"  - function-name: {name}")
        for key, value in (per_function or {}).get(name, {}).items():
            lines.append(f"    {key}: {value}")
    (workspace / "faas.yml").write_text("\n".join(lines) + "\n")


def test_functions_deploy_side_by_side_and_every_alias_matches_its_result(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(5)
    write_config(workspace, aws_role, names)
    lambda_proxy.lifecycle(1.0)  # each change keeps a function busy for a second: the waits overlap
    result = aws_action.run({"config": "faas.yml", "max-parallel": "5"})
    assert result.code == 0, result.stdout
    results = json.loads(result.outputs["results"])
    assert [r["function-name"] for r in results] == names  # config order, whatever finished first
    client = boto_client("lambda", lambda_proxy.url)
    for entry in results:
        assert entry["status"] == "deployed" and entry["changed"] is True and entry["provider"] == "aws"
        alias = client.get_alias(FunctionName=entry["function-name"], Name="live")
        assert alias["FunctionVersion"] == entry["version"] == "1"
        assert entry["code-sha256"] and int(entry["package-size"]) > 0 and entry["duration"] > 0
        assert entry["function-id"].endswith(":" + entry["function-name"])
    # Each function's log is one group, and groups never interleave.
    depth = 0
    for line in result.stdout.splitlines():
        if line.startswith("::group::"):
            assert depth == 0, "a group opened inside another"
            depth += 1
        elif line.startswith("::endgroup::"):
            depth -= 1
    assert depth == 0
    for name in names:
        assert re.search(rf"^::group::{name}: deployed$", result.stdout, re.M), name
        assert re.search(rf"^\[{name}\] ", result.stdout, re.M), "no live progress line"
    # One summary row per function, each with its own duration.
    rows = [line for line in result.summary.splitlines() if line.startswith("| `many-")]
    assert len(rows) == 5 and all("| deployed |" in row for row in rows)
    assert json.loads(result.outputs["matrix"]) == {"include": [{"function-name": n} for n in names]}
    assert "version" not in result.outputs, "per-function outputs are for a one-function run"
    assert result.outputs["changed"] == "true"


def test_one_failure_leaves_the_others_deployed_and_reported(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(3)
    bad_role = "arn:aws:iam::123456789012:role/does-not-exist"
    write_config(workspace, aws_role, names, per_function={names[1]: {"role": bad_role}})
    result = aws_action.run({"config": "faas.yml"})
    assert result.code == 1, result.stdout
    assert len(result.errors) == 1 and names[1] in result.errors[0], result.errors
    assert "Traceback" not in result.stdout + result.stderr
    results = json.loads(result.outputs["results"])
    assert [(r["function-name"], r["status"]) for r in results] == [(names[0], "deployed"), (names[1], "failed"), (names[2], "deployed")]
    assert results[1]["error"] and "error" not in results[0]
    client = boto_client("lambda", lambda_proxy.url)
    for name in (names[0], names[2]):
        assert client.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    for name in names:
        assert name in result.summary
    assert "What failed" in result.summary


def test_fail_fast_starts_nothing_after_a_failure(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(3)
    write_config(workspace, aws_role, names, extra="fail-fast: true",
                 per_function={names[1]: {"role": "arn:aws:iam::123456789012:role/does-not-exist"}})
    result = aws_action.run({"config": "faas.yml", "max-parallel": "1"})
    assert result.code == 1
    statuses = [r["status"] for r in json.loads(result.outputs["results"])]
    assert statuses == ["deployed", "failed", "skipped"]
    creates = [r.body["FunctionName"] for r in lambda_proxy.requests if r.method == "POST" and r.path.endswith("/functions")]
    assert names[2] not in creates


def test_without_fail_fast_the_others_go_on(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(3)
    write_config(workspace, aws_role, names, per_function={names[0]: {"role": "arn:aws:iam::123456789012:role/does-not-exist"}})
    result = aws_action.run({"config": "faas.yml", "max-parallel": "1"})
    assert result.code == 1
    assert [r["status"] for r in json.loads(result.outputs["results"])] == ["failed", "deployed", "deployed"]


def test_select_deploys_only_the_named_functions(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(3)
    write_config(workspace, aws_role, names)
    result = aws_action.run({"config": "faas.yml", "select": f"{names[2]}, {names[0]}"})
    assert result.code == 0, result.stdout
    assert [r["function-name"] for r in json.loads(result.outputs["results"])] == [names[0], names[2]]
    created = {r.body["FunctionName"] for r in lambda_proxy.requests if r.method == "POST" and r.path.endswith("/functions")}
    assert created == {names[0], names[2]}


def test_select_with_an_unknown_name_is_an_input_error(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(2)
    write_config(workspace, aws_role, names)
    result = aws_action.run({"config": "faas.yml", "select": "nope"})
    assert result.code == 1
    assert any("select" in e and "'nope'" in e for e in result.errors)
    assert lambda_proxy.requests == []


def test_dry_run_matrix_lists_only_the_functions_that_would_change(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(3)
    write_config(workspace, aws_role, names)
    assert aws_action.run({"config": "faas.yml"}).code == 0
    unchanged = aws_action.run({"config": "faas.yml", "dry-run": "true"})
    assert unchanged.code == 0, unchanged.stdout
    assert json.loads(unchanged.outputs["matrix"]) == {"include": []}
    assert unchanged.outputs["changed"] == "false"

    write_config(workspace, aws_role, names, per_function={names[1]: {"memory": 512}})
    writes = len(lambda_proxy.writes())
    planned = aws_action.run({"config": "faas.yml", "dry-run": "true"})
    assert planned.code == 0
    assert json.loads(planned.outputs["matrix"]) == {"include": [{"function-name": names[1]}]}
    assert planned.outputs["changed"] == "true"
    assert len(lambda_proxy.writes()) == writes
    plans = json.loads(planned.outputs["plan"])
    assert [p["function"] for p in plans] == names and [p["action"] for p in plans] == ["none", "update", "none"]
    assert planned.outputs["plan-markdown"].strip() in planned.summary
    statuses = [r["status"] for r in json.loads(planned.outputs["results"])]
    assert statuses == ["unchanged", "planned", "unchanged"]

    # The matrix job: one function per job, chosen by `select`.
    deployed = aws_action.run({"config": "faas.yml", "select": names[1]})
    assert deployed.code == 0
    (entry,) = json.loads(deployed.outputs["results"])
    assert entry["function-name"] == names[1] and entry["version"] == "2"


def test_conflict_and_throttle_storms_are_absorbed_while_functions_deploy_together(aws_action, workspace, aws_role, lambda_proxy):
    names = names_for(4)
    write_config(workspace, aws_role, names)
    assert aws_action.run({"config": "faas.yml"}).code == 0
    (workspace / "app" / "app.py").write_text("def handler(event, context):\n    return 'v2'\n")
    conflict = "The operation cannot be performed at this time. An update is in progress for resource: arn"
    lambda_proxy.fail("PUT", r"/functions/many-[^/]+/code$", 409, "ResourceConflictException", conflict, times=6)
    lambda_proxy.fail("POST", r"/functions/many-[^/]+/versions$", 429, "TooManyRequestsException", "Rate exceeded", times=6)
    result = aws_action.run({"config": "faas.yml", "max-parallel": "4"})
    assert result.code == 0, result.stdout
    assert all(r["status"] == "deployed" and r["version"] == "2" for r in json.loads(result.outputs["results"]))


def test_provider_from_the_config_alone_and_mixed_providers(aws_action, workspace, aws_role, lambda_proxy):
    # No `provider` at the step: each function names its own. A step input that belongs to one
    # provider applies to that provider's functions only.
    (workspace / "app").mkdir()
    (workspace / "app" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (name,) = names_for(1)
    (workspace / "faas.yml").write_text(
        "functions:\n"
        f"  - provider: aws\n    function-name: {name}\n    source: app\n    runtime: python3.12\n"
        f"    handler: app.handler\n    role: {aws_role}\n"
        "  - provider: gcp\n    function-name: hello\n    source: app\n    region: us-central1\n"
    )
    result = aws_action.run(
        {"config": "faas.yml", "alias": "live", "project": "proj-1", "gcp-access-token": "ya29.token-for-the-gcp-one",
         "dry-run": "true", "wait-timeout": "3"},
        env={"FAAS_GCP_ENDPOINT": "http://127.0.0.1:9"},
    )
    # No input error: `alias` applies to the AWS function, `project` and the token to the GCP one.
    # The GCP endpoint is closed (port 9), so that one fails, alone, and the AWS plan stands.
    assert not any("does not apply" in e for e in result.errors), result.errors
    assert result.code == 1 and len(result.errors) == 1 and "hello" in result.errors[0], result.stdout
    (plan_aws,) = json.loads(result.outputs["plan"])
    assert plan_aws["provider"] == "aws" and plan_aws["alias"] == "live"
    statuses = {r["function-name"]: r["status"] for r in json.loads(result.outputs["results"])}
    assert statuses == {name: "planned", "hello": "failed"}


def test_provider_missing_everywhere_is_an_input_error(aws_action, workspace):
    (workspace / "app").mkdir()
    (workspace / "app" / "app.py").write_text("x = 1\n")
    (workspace / "faas.yml").write_text("functions:\n  - function-name: a\n    source: app\n  - function-name: b\n    source: app\n")
    result = aws_action.run({"config": "faas.yml"})
    assert result.code == 1
    assert all("provider" in e for e in result.errors) and len(result.errors) == 2


def test_cancellation_stops_starting_functions_and_still_writes_outputs(aws_action, workspace, aws_role, lambda_proxy, tmp_path):
    names = names_for(3)
    write_config(workspace, aws_role, names)
    for name in names:  # the first function stays Pending long enough to be cancelled mid-wait
        lambda_proxy.queue_state(name, 60, State="Pending")
    env = aws_action.env_for({"config": "faas.yml", "max-parallel": "1"})
    process = subprocess.Popen([sys.executable, str(ENTRYPOINT)], cwd=workspace, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not lambda_proxy.calls("POST", r"/functions$"):
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 1, stdout + stderr
    assert "Traceback" not in stdout + stderr
    outputs = parse_github_output(Path(env["GITHUB_OUTPUT"]).read_text())
    statuses = [r["status"] for r in json.loads(outputs["results"])]
    assert statuses == ["failed", "skipped", "skipped"], statuses
    assert any("cancel" in line for line in stdout.splitlines() if line.startswith("::error"))
    assert Path(env["GITHUB_STEP_SUMMARY"]).read_text().count("| skipped |") == 2
