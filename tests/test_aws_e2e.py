"""End to end on AWS: entrypoint.py as the runner runs it, against moto behind the scripted proxy."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

from tests.conftest import boto_client


def write_app(workspace: Path, body: str = "def handler(event, context):\n    return 'hello'\n") -> None:
    app = workspace / "app"
    app.mkdir(exist_ok=True)
    (app / "app.py").write_text(body)


def create_inputs(name: str, role: str, **extra: str) -> dict[str, str]:
    return {
        "provider": "aws",
        "function-name": name,
        "source": "app",
        "runtime": "python3.12",
        "handler": "app.handler",
        "role": role,
        **extra,
    }


def lambda_client(proxy):
    return boto_client("lambda", proxy.url)


def test_create_update_noop_cycle(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    created = aws_action.run(create_inputs(function_name, aws_role))
    assert created.code == 0, created.stdout + created.stderr
    out = created.outputs
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    assert out["function-id"] == arn and out["function-arn"] == arn
    assert out["version"] == "1"
    assert out["version-id"] == f"{arn}:1"
    assert out["changed"] == "true"
    assert out["alias-id"] == "" and out["url"] == ""
    deployed = lambda_client(lambda_proxy).get_function(FunctionName=function_name)["Configuration"]
    assert deployed["CodeSha256"] == out["code-sha256"]
    assert int(out["package-size"]) > 0

    write_app(workspace, "def handler(event, context):\n    return 'changed'\n")
    updated = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app"})
    assert updated.code == 0, updated.stdout
    assert updated.outputs["changed"] == "true"
    assert updated.outputs["version"] == "2"
    assert updated.outputs["code-sha256"] != out["code-sha256"]

    writes_before = len(lambda_proxy.writes())
    noop = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app"})
    assert noop.code == 0, noop.stdout
    assert noop.outputs["changed"] == "false"
    assert noop.outputs["version"] == "2"
    assert noop.outputs["version-id"] == f"{arn}:2"
    assert noop.outputs["code-sha256"] == updated.outputs["code-sha256"]
    assert len(lambda_proxy.writes()) == writes_before, "a no-op made a write call"
    assert "| aws |" in noop.summary and function_name in noop.summary


def test_update_sends_only_given_fields(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role, environment="A=1\nB=2", timeout="30")).code == 0
    result = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "memory": "512"})
    assert result.code == 0, result.stdout
    updates = lambda_proxy.calls("PUT", rf"/functions/{function_name}/configuration$")
    assert len(updates) == 1
    assert set(updates[0].body) - {"RevisionId"} == {"MemorySize"}, updates[0].body
    assert updates[0].body.get("RevisionId"), "the guard read at plan time must be sent"
    config = lambda_client(lambda_proxy).get_function_configuration(FunctionName=function_name)
    assert config["Environment"]["Variables"] == {"A": "1", "B": "2"}
    assert config["Timeout"] == 30 and config["MemorySize"] == 512
    # The code did not change: no code upload, and the config change still publishes a version.
    assert not lambda_proxy.calls("PUT", rf"/functions/{function_name}/code$")
    assert result.outputs["version"] == "2"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("merge", {"A": "1", "B": "3", "C": "4"}), ("replace", {"B": "3", "C": "4"})],
)
def test_environment_merge_and_replace(aws_action, workspace, function_name, aws_role, lambda_proxy, mode, expected):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role, environment="A=1\nB=2")).code == 0
    result = aws_action.run({
        "provider": "aws", "function-name": function_name, "source": "app",
        "environment": "B: '3'\nC: '4'", "environment-mode": mode,
    })
    assert result.code == 0, result.stdout
    config = lambda_client(lambda_proxy).get_function_configuration(FunctionName=function_name)
    assert config["Environment"]["Variables"] == expected


def test_environment_values_are_masked_and_kept_out_of_outputs(aws_action, workspace, function_name, aws_role):
    write_app(workspace)
    secret = "s3cr3t-value-9f2c"
    result = aws_action.run(create_inputs(function_name, aws_role, environment=f"API_KEY={secret}"))
    assert result.code == 0, result.stdout
    lines = result.stdout.splitlines()
    mask_index = lines.index(f"::add-mask::{secret}")
    assert all(secret not in line for line in lines[mask_index + 1:])
    assert all(secret not in line for line in lines[:mask_index])
    assert all(secret not in value for value in result.outputs.values())
    assert "::add-mask::testing-secret-key" in result.stdout


def test_alias_created_then_moved(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    first = aws_action.run(create_inputs(function_name, aws_role, alias="live"))
    assert first.code == 0, first.stdout
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    assert first.outputs["alias-id"] == f"{arn}:live"
    write_app(workspace, "def handler(e, c):\n    return 2\n")
    second = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "alias": "live"})
    assert second.code == 0, second.stdout
    alias = lambda_client(lambda_proxy).get_alias(FunctionName=function_name, Name="live")
    assert alias["FunctionVersion"] == second.outputs["version"] == "2"
    noop = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "alias": "live"})
    assert noop.outputs["changed"] == "false" and noop.outputs["version"] == "2"


def test_url_output_when_the_alias_has_a_function_url(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role, alias="live")).code == 0
    url = lambda_client(lambda_proxy).create_function_url_config(FunctionName=function_name, Qualifier="live", AuthType="NONE")["FunctionUrl"]
    result = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "alias": "live"})
    assert result.outputs["url"] == url


def test_dry_run_reads_only_and_outputs_the_plan(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role)).code == 0
    writes = len(lambda_proxy.writes())
    write_app(workspace, "def handler(e, c):\n    return 'new'\n")
    result = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "memory": "1024", "dry-run": "true"})
    assert result.code == 0, result.stdout
    assert len(lambda_proxy.writes()) == writes
    (plan,) = json.loads(result.outputs["plan"])
    assert plan["action"] == "update"
    assert {"field": "MemorySize", "old": 128, "new": 1024} in plan["changes"]
    assert plan["code-sha256"]["new"] == result.outputs["code-sha256"] != plan["code-sha256"]["old"]
    assert result.outputs["package-size"]
    assert "version" not in result.outputs
    assert "MemorySize" in result.summary and "MemorySize: 128 -> 1024" in result.stdout


def test_dry_run_of_a_new_function_plans_a_create(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    result = aws_action.run(create_inputs(function_name, aws_role, **{"dry-run": "true", "environment": "TOKEN=abcdef123"}))
    assert result.code == 0, result.stdout
    assert lambda_proxy.writes() == []
    (plan,) = json.loads(result.outputs["plan"])
    assert plan["action"] == "create" and plan["publish"] is True
    assert "abcdef123" not in result.outputs["plan"]


def test_bad_inputs_are_all_reported_before_any_call(aws_action, workspace, lambda_proxy):
    write_app(workspace)
    result = aws_action.run({
        "provider": "aws",
        "function-name": "bad name!",
        "source": "app",
        "memory": "12",
        "timeout": "abc",
        "publish": "maybe",
        "tracing": "Sometimes",
        "slot": "staging",
    })
    assert result.code == 1
    assert len(result.errors) == 6, result.errors
    for fragment in ("function-name", "memory", "timeout", "publish", "tracing", "slot"):
        assert any(fragment in line for line in result.errors), fragment
    assert lambda_proxy.requests == []


def test_missing_region_is_an_input_error(aws_action, workspace, lambda_proxy):
    write_app(workspace)
    result = aws_action.run({"provider": "aws", "function-name": "f", "source": "app"}, env={"AWS_REGION": "", "AWS_DEFAULT_REGION": ""})
    assert result.code == 1
    assert len(result.errors) == 1 and "AWS_REGION" in result.errors[0]
    assert lambda_proxy.requests == []


def test_missing_credentials_is_one_clear_error(aws_action, workspace, lambda_proxy):
    write_app(workspace)
    result = aws_action.run({"provider": "aws", "function-name": "f", "source": "app"}, env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    assert result.code == 1
    assert len(result.errors) == 1
    assert "configure-aws-credentials" in result.errors[0]
    assert lambda_proxy.requests == []


def test_create_without_role_fails_before_writing(aws_action, workspace, function_name, lambda_proxy):
    write_app(workspace)
    result = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "runtime": "python3.12", "handler": "app.handler"})
    assert result.code == 1
    assert "`role`" in result.errors[0]
    assert lambda_proxy.writes() == []


def test_symlink_leaving_the_source_is_refused(aws_action, workspace, lambda_proxy, tmp_path):
    write_app(workspace)
    outside = tmp_path / "secret.txt"
    outside.write_text("do not ship")
    os.symlink(outside, workspace / "app" / "link.txt")
    result = aws_action.run({"provider": "aws", "function-name": "f", "source": "app"})
    assert result.code == 1
    assert any("link.txt" in line and "leaves the source" in line for line in result.errors)
    assert lambda_proxy.requests == []


def test_source_outside_the_workspace_is_refused(aws_action, workspace, lambda_proxy):
    result = aws_action.run({"provider": "aws", "function-name": "f", "source": "../"})
    assert result.code == 1
    assert "outside the workspace" in result.errors[0]
    assert lambda_proxy.requests == []


def test_package_over_50_mb_without_bucket_names_the_limit(aws_action, workspace, lambda_proxy):
    write_app(workspace)
    (workspace / "app" / "blob.bin").write_bytes(os.urandom(51 * 1024 * 1024))
    result = aws_action.run({"provider": "aws", "function-name": "f", "source": "app"})
    assert result.code == 1
    assert len(result.errors) == 1
    assert "50 MB" in result.errors[0] and "s3-bucket" in result.errors[0]
    assert lambda_proxy.requests == []


def test_package_over_50_mb_goes_through_s3_once(aws_action, workspace, function_name, aws_role, lambda_proxy, moto_server):
    s3 = boto_client("s3", moto_server)
    s3.create_bucket(Bucket="faas-artifacts")
    write_app(workspace)
    (workspace / "app" / "blob.bin").write_bytes(os.urandom(51 * 1024 * 1024))
    result = aws_action.run(create_inputs(function_name, aws_role, **{"s3-bucket": "faas-artifacts"}), env={"AWS_ENDPOINT_URL_S3": moto_server})
    assert result.code == 0, result.stdout + result.stderr
    sha_hex = base64.b64decode(result.outputs["code-sha256"]).hex()
    key = f"faas-action/{function_name}/{sha_hex}.zip"
    assert s3.head_object(Bucket="faas-artifacts", Key=key)["ContentLength"] == int(result.outputs["package-size"])
    config = lambda_client(lambda_proxy).get_function_configuration(FunctionName=function_name)
    assert config["CodeSha256"] == result.outputs["code-sha256"]
    # Same package, new memory: the config changes but the upload is skipped.
    again = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "memory": "256", "s3-bucket": "faas-artifacts"},
                           env={"AWS_ENDPOINT_URL_S3": moto_server})
    assert again.code == 0, again.stdout
    assert "already holds this package" not in again.stdout  # code unchanged: no code update at all
    assert not lambda_proxy.calls("PUT", rf"/functions/{function_name}/code$")


def test_unzipped_size_over_250_mb_fails_before_any_call(aws_action, workspace, lambda_proxy):
    package = workspace / "big.zip"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("zeros.bin", "w", force_zip64=True) as out:
            chunk = bytes(1 << 20)
            for _ in range(251):
                out.write(chunk)
    result = aws_action.run({"provider": "aws", "function-name": "f", "package": "big.zip"})
    assert result.code == 1
    assert "262144000" in result.errors[0]
    assert lambda_proxy.requests == []


def test_prebuilt_package_is_uploaded_as_is(aws_action, workspace, function_name, aws_role, lambda_proxy):
    package = workspace / "dist.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app.py", "def handler(e, c):\n    return 1\n")
    expected = base64.b64encode(hashlib.sha256(package.read_bytes()).digest()).decode()
    inputs = create_inputs(function_name, aws_role, package="dist.zip")
    del inputs["source"]
    result = aws_action.run(inputs)
    assert result.code == 0, result.stdout
    assert result.outputs["code-sha256"] == expected
    assert lambda_client(lambda_proxy).get_function_configuration(FunctionName=function_name)["CodeSha256"] == expected


def test_waits_after_every_mutation_including_the_last(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role)).code == 0
    lambda_proxy.requests.clear()
    write_app(workspace, "def handler(e, c):\n    return 3\n")
    # The first poll after each update still sees it in progress.
    lambda_proxy.after_each_update(function_name, 1, LastUpdateStatus="InProgress")
    result = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "memory": "256"})
    assert result.code == 0, result.stdout
    sequence = [(r.method, r.path.split("?")[0].rsplit("/", 1)[-1]) for r in lambda_proxy.requests]
    code_put = sequence.index(("PUT", "code"))
    config_put = sequence.index(("PUT", "configuration"))
    publish = sequence.index(("POST", "versions"))
    polls_after_code = [s for s in sequence[code_put + 1:config_put] if s == ("GET", function_name)]
    polls_after_config = [s for s in sequence[config_put + 1:publish] if s == ("GET", function_name)]
    assert len(polls_after_code) == 2 and len(polls_after_config) == 2, sequence
    assert result.stdout.count("LastUpdateStatus=InProgress") == 2


def test_update_past_the_deadline_fails_with_exit_1(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role)).code == 0
    write_app(workspace, "def handler(e, c):\n    return 4\n")
    lambda_proxy.requests.clear()
    lambda_proxy.after_each_update(function_name, 100, LastUpdateStatus="InProgress")
    result = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "wait-timeout": "2"})
    assert result.code == 1
    assert any("did not finish within 2 s" in e for e in result.errors), result.errors
    assert not lambda_proxy.calls("POST", rf"/functions/{function_name}/versions$"), "published after a failed wait"


def test_failed_update_reports_the_reason(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role)).code == 0
    lambda_proxy.after_each_update(function_name, 1, LastUpdateStatus="Failed", LastUpdateStatusReason="Subnet out of IPs")
    result = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "timeout": "20"})
    assert result.code == 1
    assert "Subnet out of IPs" in result.errors[0]


def test_config_file_deploys_every_function_reported_in_order(aws_action, workspace, aws_role, lambda_proxy):
    write_app(workspace)
    names = ["cfg-a-" + os.urandom(4).hex(), "cfg-b-" + os.urandom(4).hex()]
    (workspace / "faas.yml").write_text(
        "provider: aws\nsource: app\nruntime: python3.12\nhandler: app.handler\n"
        f"role: {aws_role}\nfunctions:\n  - function-name: {names[0]}\n    memory: 256\n"
        f"  - function-name: {names[1]}\n    environment:\n      MODE: b\n"
    )
    result = aws_action.run({"provider": "aws", "config": "faas.yml", "timeout": "42"})
    assert result.code == 0, result.stdout
    results = json.loads(result.outputs["results"])
    assert [r["function-id"].rsplit(":", 1)[-1] for r in results] == names
    client = lambda_client(lambda_proxy)
    first = client.get_function_configuration(FunctionName=names[0])
    second = client.get_function_configuration(FunctionName=names[1])
    assert first["MemorySize"] == 256 and first["Timeout"] == 42  # the step input overrides the file
    assert second["Environment"]["Variables"] == {"MODE": "b"} and second["Timeout"] == 42
    creates = [r for r in lambda_proxy.requests if r.method == "POST" and r.path.endswith("/functions")]
    assert sorted(c.body["FunctionName"] for c in creates) == sorted(names)  # side by side: any order


def test_unexpected_error_exits_2_with_a_folded_traceback(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role)).code == 0
    # A 200 reply that is not JSON is nothing the action expects: it is reported as a bug.
    original = lambda_proxy._reply

    def garble(handler, status, headers, data):
        if status == 200 and function_name in handler.path and handler.command == "GET":
            data = b"{not json"
        return original(handler, status, headers, data)

    lambda_proxy._reply = garble
    result = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app"})
    assert result.code == 2, result.stdout
    assert "::group::faas-action crashed: traceback" in result.stdout
    assert "Traceback (most recent call last)" in result.stdout
    assert len(result.errors) == 1


def test_input_and_packaging_problems_are_reported_together(aws_action, workspace, lambda_proxy, tmp_path):
    write_app(workspace)
    os.symlink(tmp_path, workspace / "app" / "escape")
    (workspace / "faas.yml").write_text(
        "provider: aws\nfunctions:\n  - function-name: good-source\n    source: app\n"
        "  - function-name: bad-memory\n    source: app\n    memory: 1\n"
    )
    result = aws_action.run({"provider": "aws", "config": "faas.yml"})
    assert result.code == 1
    assert any("memory" in e for e in result.errors)
    assert any("escape" in e and "leaves the source" in e for e in result.errors)
    assert lambda_proxy.requests == []


def test_block_buffered_stdout_is_flushed_before_the_process_ends(aws_action, workspace, function_name, aws_role):
    # The container's stdout is a pipe, so Python buffers it, and entrypoint.py ends the process
    # with os._exit: everything printed must still reach the runner, along with the outputs.
    write_app(workspace)
    result = aws_action.run(create_inputs(function_name, aws_role), env={"PYTHONUNBUFFERED": ""})
    assert result.code == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith(f"faas-action: {function_name}: deployed, version 1"), result.stdout[-300:]
    assert result.outputs["version"] == "1" and "| aws |" in result.summary
    failed = aws_action.run({"provider": "aws", "function-name": "", "source": "app"}, env={"PYTHONUNBUFFERED": ""})
    assert failed.code == 1 and failed.errors, failed.stdout


def test_a_failing_run_still_writes_a_summary(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    bad = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "memory": "1"})
    assert bad.code == 1 and "memory" in bad.summary and "nothing was deployed" in bad.summary
    refused = aws_action.run(create_inputs(function_name, "arn:aws:iam::123456789012:role/missing-role"))
    assert refused.code == 1
    assert function_name in refused.summary and "What failed" in refused.summary
    assert "console.aws.amazon.com/lambda" in refused.summary
    (entry,) = json.loads(refused.outputs["results"])
    assert entry["status"] == "failed" and entry["error"]


def corrupt_central_directory(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("app.py", "def handler(e, c):\n    return 1\n" * 50)
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central : central + 4] = b"XXXX"
    path.write_bytes(bytes(data))


def slip_entry(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("app.py", "def handler(e, c):\n    return 1\n")
        archive.writestr("../../etc/cron.d/x", "* * * * * root true\n")


def no_entries(path: Path) -> None:
    zipfile.ZipFile(path, "w").close()


@pytest.mark.parametrize("make", [corrupt_central_directory, slip_entry, no_entries])
def test_an_unusable_prebuilt_package_fails_before_any_call(aws_action, workspace, function_name, aws_role, lambda_proxy, make):
    make(workspace / "dist.zip")
    inputs = create_inputs(function_name, aws_role, package="dist.zip")
    del inputs["source"]
    result = aws_action.run(inputs)
    assert result.code == 1, result.stdout + result.stderr
    assert len(result.errors) == 1 and "dist.zip" in result.errors[0], result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert lambda_proxy.requests == []


def test_a_source_file_name_that_is_not_utf8_fails_before_any_call(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    Path(os.fsdecode(os.fsencode(workspace / "app") + b"/donn\xe9es.bin")).write_bytes(b"\x00\x01")
    result = aws_action.run(create_inputs(function_name, aws_role))
    assert result.code == 1, result.stdout + result.stderr
    assert len(result.errors) == 1 and "'donn\\xe9es.bin'" in result.errors[0], result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert lambda_proxy.requests == []


def test_likely_secrets_in_the_package_are_named_in_a_warning(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    (workspace / "app" / ".env").write_text("DB_PASSWORD=hunter2\n")
    result = aws_action.run(create_inputs(function_name, aws_role, **{"dry-run": "true"}))
    assert result.code == 0, result.stdout + result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("::warning")]
    assert len(warnings) == 1 and "'.env'" in warnings[0] and ".faasignore" in warnings[0], result.stdout
    assert "hunter2" not in result.stdout
