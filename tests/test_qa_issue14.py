"""QA, issue 14 (Lambda coverage), black box: entrypoint.py run as the runner runs it, moto (and its
ECR) behind tests/fakes/lambda_proxy.py. Written from the issue's text; each test names the promise
it checks. Scenarios the other issue-14 tests leave out: Lambda's defaults given explicitly, `none`
on settings that were never set, image functions cleared with `none` or changed one field at a
time, a forced image deploy, URLs on the function itself, CORS cleared, an existing URL left
alone, concurrency at its edges, provisioned concurrency after the alias moves and past its
deadline, package-out paths with `..`, absolute or through a symlink, and every input problem at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REGISTRY

DLQ = "arn:aws:sqs:us-east-1:123456789012:failures"


def write_app(workspace: Path, body: str = "def handler(event, context):\n    return 'hello'\n") -> None:
    (workspace / "app").mkdir(exist_ok=True)
    (workspace / "app" / "app.py").write_text(body)


def create_inputs(name: str, role: str, **extra: str) -> dict[str, str]:
    return {"provider": "aws", "function-name": name, "source": "app", "runtime": "python3.12",
            "handler": "app.handler", "role": role, **extra}


def update_inputs(name: str, **extra: str) -> dict[str, str]:
    return {"provider": "aws", "function-name": name, "source": "app", **extra}


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert result.code in (0, 1), f"exit {result.code}: {result.stdout}"


def error_fields(result) -> list[str]:
    return sorted(line.split("::", 2)[2].split(":", 1)[0] for line in result.errors)


def lambda_writes(proxy) -> list:
    """Writes to Lambda (ECR's and CloudWatch's APIs are POSTs to `/`, reads included)."""
    return [w for w in proxy.writes() if w.path.startswith("/20")]


# -- input problems: all at once, one ::error each, before any request ----------------------------------


def test_every_issue_14_input_problem_at_once_before_any_request(aws_action, workspace, lambda_proxy):
    write_app(workspace)
    result = aws_action.run(update_inputs(
        "fn-bad-inputs",
        **{
            "ephemeral-storage": "511",
            "log-format": "xml",
            "snap-start": "Always",
            "dead-letter-arn": "arn:aws:s3:::bucket",
            "kms-key-arn": "alias/aws/lambda",
            "reserved-concurrency": "-1",
            "provisioned-concurrency": "2",  # no alias
            "function-url": "open",
            "file-system-configs": "fsap-123=/mnt/x",
            "force": "maybe",
        },
    ))
    no_traceback(result)
    assert result.code == 1
    assert error_fields(result) == sorted([
        "ephemeral-storage", "log-format", "snap-start", "dead-letter-arn", "kms-key-arn", "reserved-concurrency",
        "provisioned-concurrency", "function-url", "file-system-configs", "force",
    ]), result.errors
    assert lambda_proxy.requests == []


@pytest.mark.parametrize(("value", "valid"), [("511", False), ("512", True), ("10240", True), ("10241", False), ("1GB", False)])
def test_ephemeral_storage_range_is_512_to_10240(aws_action, workspace, lambda_proxy, value, valid):
    write_app(workspace)
    result = aws_action.run(update_inputs("fn-storage", region="us-east-1", **{"ephemeral-storage": value, "dry-run": "true"}))
    no_traceback(result)
    if valid:  # the plan then fails on the missing function, never on the input
        assert not [e for e in result.errors if "ephemeral-storage" in e], result.errors
        assert lambda_proxy.requests, "a valid input must reach the plan"
    else:
        assert result.code == 1 and len(result.errors) == 1 and "ephemeral-storage" in result.errors[0], result.stdout
        assert lambda_proxy.requests == []


# -- Lambda's defaults and `none` on what was never set: no-ops -----------------------------------------


def test_lambdas_defaults_given_explicitly_are_a_no_op(aws_action, workspace, function_name, aws_role, lambda_proxy):
    """'Every new field is compared with the deployed value with Lambda's defaults filled in (512 MB
    ephemeral storage, Text logs, SnapStart None, ...), so a redeploy with the same values is a no-op.'"""
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role, alias="live")).code == 0
    writes = len(lambda_writes(lambda_proxy))
    result = aws_action.run(update_inputs(function_name, alias="live", **{
        "ephemeral-storage": "512", "log-format": "Text", "snap-start": "None", "log-group": f"/aws/lambda/{function_name}",
    }))
    no_traceback(result)
    assert (result.code, result.outputs["changed"], result.outputs["version"]) == (0, "false", "1"), result.stdout
    assert len(lambda_writes(lambda_proxy)) == writes, [w.path for w in lambda_writes(lambda_proxy)[writes:]]


def test_none_on_settings_never_set_is_a_no_op(aws_action, workspace, function_name, aws_role, lambda_proxy):
    """`none` clears; clearing what is not there changes nothing."""
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role, alias="live")).code == 0
    writes = len(lambda_writes(lambda_proxy))
    result = aws_action.run(update_inputs(function_name, alias="live", **{
        "layers": "none", "subnet-ids": "none", "dead-letter-arn": "none", "kms-key-arn": "none",
        "file-system-configs": "none", "reserved-concurrency": "none",
    }))
    no_traceback(result)
    assert (result.code, result.outputs["changed"], result.outputs["version"]) == (0, "false", "1"), result.stdout
    assert len(lambda_writes(lambda_proxy)) == writes, [w.path for w in lambda_writes(lambda_proxy)[writes:]]


def test_an_empty_input_leaves_a_setting_alone(aws_action, workspace, function_name, aws_role, lambda_proxy, lam):
    """'An empty input still means "leave it alone".'"""
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role, **{"dead-letter-arn": DLQ, "ephemeral-storage": "2048",
                                                                    "log-format": "JSON"})).code == 0
    write_app(workspace, "def handler(event, context):\n    return 'v2'\n")
    result = aws_action.run(update_inputs(function_name, **{"dead-letter-arn": "", "ephemeral-storage": "", "log-format": ""}))
    no_traceback(result)
    assert result.code == 0, result.stdout
    sent = [set(w.body) for w in lambda_proxy.calls("PUT", rf"/functions/{function_name}/configuration$")]
    assert sent == [], f"a configuration update was sent: {sent}"
    config = lam.get_function_configuration(FunctionName=function_name, Qualifier=result.outputs["version"])
    assert config["DeadLetterConfig"] == {"TargetArn": DLQ} and config["EphemeralStorage"] == {"Size": 2048}
    assert config["LoggingConfig"]["LogFormat"] == "JSON"


def test_a_changed_setting_publishes_a_version_with_it(aws_action, workspace, function_name, aws_role, lambda_proxy, lam):
    """'a version is reused only when its configuration matches'."""
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role, alias="live")).code == 0
    result = aws_action.run(update_inputs(function_name, alias="live", **{"ephemeral-storage": "1024", "log-format": "json"}))
    no_traceback(result)
    assert (result.code, result.outputs["changed"], result.outputs["version"]) == (0, "true", "2"), result.stdout
    served = lam.get_function(FunctionName=function_name, Qualifier="live")["Configuration"]
    assert served["Version"] == "2" and served["EphemeralStorage"] == {"Size": 1024} and served["LoggingConfig"]["LogFormat"] == "JSON"
    again = aws_action.run(update_inputs(function_name, alias="live", **{"ephemeral-storage": "1024", "log-format": "JSON"}))
    assert (again.code, again.outputs["changed"], again.outputs["version"]) == (0, "false", "2"), again.stdout


# -- container images -----------------------------------------------------------------------------------


def image_inputs(name: str, uri: str, **extra: str) -> dict[str, str]:
    return {"provider": "aws", "function-name": name, "image-uri": uri, **extra}


def image_config(lam, name: str, qualifier: str | None = None) -> dict:
    kwargs = {"Qualifier": qualifier} if qualifier else {}
    return (lam.get_function(FunctionName=name, **kwargs)["Configuration"].get("ImageConfigResponse") or {}).get("ImageConfig") or {}


def test_image_config_cleared_with_none_then_a_no_op(aws_action, function_name, aws_role, lambda_proxy, lam, ecr):
    """Clearing: 'the value none clears a list or optional setting' (image-command,
    image-entrypoint, image-working-directory map to ImageConfig)."""
    ecr("v1", "build one")
    created = aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", role=aws_role, alias="live", **{
        "image-command": '["app.handler", "--flag=a,b"]', "image-entrypoint": "/lambda-entrypoint.sh",
        "image-working-directory": "/var/task",
    }))
    no_traceback(created)
    assert created.code == 0, created.stdout
    assert image_config(lam, function_name) == {"Command": ["app.handler", "--flag=a,b"], "EntryPoint": ["/lambda-entrypoint.sh"],
                                                 "WorkingDirectory": "/var/task"}
    cleared = aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", alias="live", **{
        "image-command": "none", "image-entrypoint": "NONE", "image-working-directory": "none",
    }))
    no_traceback(cleared)
    assert (cleared.code, cleared.outputs["changed"], cleared.outputs["version"]) == (0, "true", "2"), cleared.stdout
    assert not any(image_config(lam, function_name, "live").values()), image_config(lam, function_name, "live")
    writes = len(lambda_writes(lambda_proxy))
    again = aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", alias="live", **{"image-command": "none"}))
    assert (again.code, again.outputs["changed"], again.outputs["version"]) == (0, "false", "2"), again.stdout
    assert len(lambda_writes(lambda_proxy)) == writes


def test_one_image_setting_changed_keeps_the_others(aws_action, function_name, aws_role, lambda_proxy, lam, ecr):
    """'never send what the user did not set': the command given before stays."""
    ecr("v1", "build")
    assert aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", role=aws_role, **{"image-command": "app.handler"})).code == 0
    result = aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", **{"image-working-directory": "/srv"}))
    no_traceback(result)
    assert result.code == 0 and result.outputs["changed"] == "true", result.stdout
    assert image_config(lam, function_name) == {"Command": ["app.handler"], "WorkingDirectory": "/srv"}


def test_a_forced_image_deploy_publishes_a_new_version(aws_action, function_name, aws_role, lambda_proxy, lam, ecr):
    """force: 'true publishes a new version even when nothing changed (the plan says so)'."""
    digest = ecr("v1", "build")
    assert aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", role=aws_role, alias="live")).code == 0
    dry = aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", alias="live", force="true", **{"dry-run": "true"}))
    no_traceback(dry)
    assert dry.code == 0 and any("force" in s for s in json.loads(dry.outputs["plan"])[0]["steps"]), dry.stdout
    forced = aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", alias="live", force="true"))
    no_traceback(forced)
    assert (forced.code, forced.outputs["changed"], forced.outputs["version"]) == (0, "true", "2"), forced.stdout
    assert (forced.outputs["code-sha256"], forced.outputs.get("package-size", "")) == (digest, "")
    assert lam.get_alias(FunctionName=function_name, Name="live")["FunctionVersion"] == "2"


def test_an_image_function_refuses_zip_only_inputs_before_any_request(aws_action, lambda_proxy):
    """'handler, runtime, layers and source/package with image-uri are input errors.'"""
    result = aws_action.run(image_inputs("fn-img", f"{REGISTRY}/repo:v1", handler="app.handler", runtime="python3.12",
                                         layers="none", package="dist/app.zip"))
    no_traceback(result)
    assert result.code == 1
    assert error_fields(result) == ["handler", "layers", "package", "runtime"], result.errors
    assert lambda_proxy.requests == []


# -- function URLs -------------------------------------------------------------------------------------------


def test_a_public_url_on_the_function_without_an_alias(aws_action, workspace, function_name, aws_role, lambda_proxy, lam):
    """function-url: 'create or update the function URL on the alias (when alias is set) or on the
    function, and report it as url'; public adds both invoke permissions; the plan and summary are loud."""
    write_app(workspace)
    dry = aws_action.run(create_inputs(function_name, aws_role, **{"function-url": "public", "dry-run": "true"}))
    no_traceback(dry)
    assert dry.code == 0, dry.stdout
    assert "anyone on the internet" in dry.stdout and "anyone on the internet" in dry.summary
    assert lambda_writes(lambda_proxy) == []

    result = aws_action.run(create_inputs(function_name, aws_role, **{"function-url": "public"}))
    no_traceback(result)
    assert result.code == 0, result.stdout
    assert result.outputs["url"] == lam.get_function_url_config(FunctionName=function_name)["FunctionUrl"]
    assert lambda_proxy.urls[(function_name, "")]["AuthType"] == "NONE"
    statements = lambda_proxy.policy_of(function_name, "")
    assert sorted(s["Action"] for s in statements) == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    assert all(s["Principal"] == "*" for s in statements)
    assert "anyone on the internet" in result.summary

    private = aws_action.run(update_inputs(function_name, **{"function-url": "IAM"}))
    no_traceback(private)
    assert (private.code, private.outputs["url"]) == (0, result.outputs["url"]), private.stdout
    assert lambda_proxy.urls[(function_name, "")]["AuthType"] == "AWS_IAM" and lambda_proxy.policy_of(function_name, "") == []


def test_without_the_input_an_existing_url_is_left_alone_and_reported(aws_action, workspace, function_name, aws_role, lambda_proxy):
    """'Without the input, an existing URL is left alone, as today.'"""
    write_app(workspace)
    created = aws_action.run(create_inputs(function_name, aws_role, alias="live", **{"function-url": "iam"}))
    assert created.code == 0, created.stdout
    write_app(workspace, "def handler(event, context):\n    return 'v2'\n")
    lambda_proxy.requests.clear()
    result = aws_action.run(update_inputs(function_name, alias="live"))
    no_traceback(result)
    assert (result.code, result.outputs["version"], result.outputs["url"]) == (0, "2", created.outputs["url"]), result.stdout
    assert not [w for w in lambda_writes(lambda_proxy) if "/url" in w.path or "/policy" in w.path]


def test_cors_changed_then_cleared_with_none_publishes_nothing(aws_action, workspace, function_name, aws_role, lambda_proxy):
    """function-url-cors: 'a YAML mapping in Lambda's Cors shape'; none clears (action.yml)."""
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role, alias="live", **{
        "function-url": "iam", "function-url-cors": "AllowOrigins: ['https://a.example']\nMaxAge: 60"})).code == 0
    changed = aws_action.run(update_inputs(function_name, alias="live", **{
        "function-url": "iam", "function-url-cors": "AllowOrigins:\n  - https://b.example\nAllowMethods: [get, POST]"}))
    no_traceback(changed)
    assert (changed.code, changed.outputs["changed"], changed.outputs["version"]) == (0, "true", "1"), changed.stdout
    cors = lambda_proxy.urls[(function_name, "live")]["Cors"]
    assert cors["AllowOrigins"] == ["https://b.example"] and sorted(m.upper() for m in cors["AllowMethods"]) == ["GET", "POST"]
    cleared = aws_action.run(update_inputs(function_name, alias="live", **{"function-url": "iam", "function-url-cors": "none"}))
    no_traceback(cleared)
    assert (cleared.code, cleared.outputs["changed"]) == (0, "true"), cleared.stdout
    assert not any(lambda_proxy.urls[(function_name, "live")]["Cors"].get(k) for k in ("AllowOrigins", "AllowMethods", "MaxAge"))
    again = aws_action.run(update_inputs(function_name, alias="live", **{"function-url": "iam", "function-url-cors": "none"}))
    assert (again.code, again.outputs["changed"]) == (0, "false"), again.stdout
    assert not lambda_proxy.calls("POST", rf"/functions/{function_name}/versions$")[1:], "a URL change publishes nothing"


# -- concurrency ------------------------------------------------------------------------------------------------


def test_reserved_concurrency_zero_then_a_no_op_then_none(aws_action, workspace, function_name, aws_role, lambda_proxy, lam):
    write_app(workspace)
    created = aws_action.run(create_inputs(function_name, aws_role, **{"reserved-concurrency": "0"}))
    no_traceback(created)
    assert created.code == 0, created.stdout
    assert lam.get_function(FunctionName=function_name)["Concurrency"] == {"ReservedConcurrentExecutions": 0}
    writes = len(lambda_writes(lambda_proxy))
    same = aws_action.run(update_inputs(function_name, **{"reserved-concurrency": "0"}))
    assert (same.code, same.outputs["changed"]) == (0, "false"), same.stdout
    assert len(lambda_writes(lambda_proxy)) == writes
    removed = aws_action.run(update_inputs(function_name, **{"reserved-concurrency": "none"}))
    assert (removed.code, removed.outputs["changed"]) == (0, "true"), removed.stdout
    assert "Concurrency" not in lam.get_function(FunctionName=function_name)


def test_provisioned_concurrency_past_its_deadline_names_what_it_waited_for(aws_action, workspace, function_name, aws_role, lambda_proxy):
    """'a deadline names what it was waiting for' (within wait-timeout)."""
    write_app(workspace)
    lambda_proxy.script_provisioned(function_name, in_progress_polls=1000)
    result = aws_action.run(create_inputs(function_name, aws_role, alias="live", **{"provisioned-concurrency": "2", "wait-timeout": "3"}))
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert "provisioned concurrency" in result.errors[0], result.errors[0]


def test_provisioned_concurrency_is_waited_for_again_after_the_alias_moves(aws_action, workspace, function_name, aws_role, lambda_proxy):
    """provisioned-concurrency: 'set after the alias moves and waited for until READY'; then 0 removes it."""
    write_app(workspace)
    lambda_proxy.script_provisioned(function_name, in_progress_polls=1)
    assert aws_action.run(create_inputs(function_name, aws_role, alias="live", **{"provisioned-concurrency": "2"})).code == 0
    write_app(workspace, "def handler(event, context):\n    return 'v2'\n")
    lambda_proxy.script_provisioned(function_name, in_progress_polls=1, status="FAILED", reason="not enough unreserved concurrency")
    moved = aws_action.run(update_inputs(function_name, alias="live", **{"provisioned-concurrency": "2"}))
    no_traceback(moved)
    assert moved.code == 1 and len(moved.errors) == 1, moved.stdout
    assert "not enough unreserved concurrency" in moved.errors[0]
    lambda_proxy.script_provisioned(function_name, in_progress_polls=1)
    removed = aws_action.run(update_inputs(function_name, alias="live", **{"provisioned-concurrency": "0"}))
    no_traceback(removed)
    assert removed.code == 0, removed.stdout
    assert (function_name, "live") not in lambda_proxy.provisioned


# -- package-out -------------------------------------------------------------------------------------------------


def test_package_out_with_dotdot_that_stays_inside(aws_action, workspace, lambda_proxy, function_name, aws_role):
    """'Output package-path, relative to the workspace.'"""
    write_app(workspace)
    result = aws_action.run(create_inputs(function_name, aws_role, **{"dry-run": "true", "package-out": "dist/../out/./fn.zip"}))
    no_traceback(result)
    assert (result.code, result.outputs.get("package-path")) == (0, "out/fn.zip"), result.stdout
    assert zipfile.is_zipfile(workspace / "out" / "fn.zip") and not (workspace / "dist").exists()


def test_package_out_as_an_absolute_path_inside_the_workspace(aws_action, workspace, lambda_proxy, function_name, aws_role):
    write_app(workspace)
    result = aws_action.run(create_inputs(function_name, aws_role, **{"dry-run": "true", "package-out": str(workspace / "build" / "fn.zip")}))
    no_traceback(result)
    assert (result.code, result.outputs.get("package-path")) == (0, "build/fn.zip"), result.stdout + result.stderr
    assert zipfile.is_zipfile(workspace / "build" / "fn.zip")


@pytest.mark.parametrize("path", ["../../escape.zip", "dist/../../escape.zip", "/tmp/escape-qa.zip", "link/escape.zip"])
def test_package_out_leaving_the_workspace_is_one_input_error(aws_action, workspace, lambda_proxy, tmp_path, path):
    """'A path that leaves the workspace is an input error.' (`link` is a symlink to outside.)"""
    write_app(workspace)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, workspace / "link")
    result = aws_action.run(update_inputs("fn-out", **{"package-out": path}))
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1 and "package-out" in result.errors[0], result.stdout
    assert lambda_proxy.requests == []
    assert list(outside.iterdir()) == [] and not Path("/tmp/escape-qa.zip").exists()


def test_package_out_is_written_on_a_no_op_deploy_and_matches_code_sha256(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role)).code == 0
    result = aws_action.run(update_inputs(function_name, **{"package-out": "dist/fn.zip"}))
    no_traceback(result)
    assert (result.code, result.outputs["changed"], result.outputs.get("package-path")) == (0, "false", "dist/fn.zip"), result.stdout
    import base64

    written = (workspace / "dist" / "fn.zip").read_bytes()
    assert base64.b64encode(hashlib.sha256(written).digest()).decode() == result.outputs["code-sha256"]
    assert result.outputs["package-size"] == str(len(written))


def test_package_out_inside_the_source_does_not_change_the_next_build(aws_action, workspace, lambda_proxy, function_name, aws_role):
    """Build once, deploy many: with `source: .` (the default) and package-out in the workspace, a
    second build of the same tree must give the same zip (issue 13: 'Byte-identical output ...
    across runs, as today; the no-op detection depends on it')."""
    write_app(workspace)
    common = create_inputs(function_name, aws_role, source=".", **{"dry-run": "true", "package-out": "dist/fn.zip"})
    first = aws_action.run(common)
    assert first.code == 0, first.stdout
    second = aws_action.run(common)
    no_traceback(second)
    assert second.code == 0, second.stdout
    with zipfile.ZipFile(workspace / "dist" / "fn.zip") as archive:
        assert "dist/fn.zip" not in archive.namelist()
    assert second.outputs["code-sha256"] == first.outputs["code-sha256"]


# -- docs -----------------------------------------------------------------------------------------------------------


def test_readme_marks_each_action_with_its_input_and_docs_have_an_image_example():
    """'README: the IAM policy gains the actions each of these needs, each marked with the input that
    needs it; docs gain an image-function example (with the ECR permissions the function's role and
    the deploy role need).'"""
    from tests.harness import ROOT

    readme = (ROOT / "README.md").read_text()
    for action, input_name in [
        ("lambda:CreateFunctionUrlConfig", "function-url"), ("lambda:AddPermission", "function-url"),
        ("lambda:PutFunctionConcurrency", "reserved-concurrency"), ("lambda:DeleteFunctionConcurrency", "reserved-concurrency"),
        ("lambda:PutProvisionedConcurrencyConfig", "provisioned-concurrency"), ("ecr:BatchGetImage", "image-uri"),
    ]:
        rows = [line for line in readme.splitlines() if action in line and line.startswith("|")]
        assert rows and any(f"`{input_name}" in row for row in rows), (action, input_name)
    docs = (ROOT / "docs" / "aws.md").read_text()
    assert "image-uri:" in docs
    for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
        assert action in docs
    import yaml

    action_yml = yaml.safe_load((ROOT / "action.yml").read_text())
    for name in ("image-uri", "image-command", "image-entrypoint", "image-working-directory", "function-url", "function-url-cors",
                 "reserved-concurrency", "provisioned-concurrency", "ephemeral-storage", "dead-letter-arn", "kms-key-arn",
                 "log-format", "log-group", "snap-start", "file-system-configs", "package-out", "force"):
        assert action_yml["inputs"][name]["description"], name
    assert action_yml["inputs"]["force"]["default"] == "false"
    assert action_yml["outputs"]["package-path"]["description"] and action_yml["outputs"]["url"]["description"]


# -- more hostile scenarios ------------------------------------------------------------------------------------------


def test_a_dry_run_of_every_new_setting_writes_nothing(aws_action, workspace, function_name, aws_role, lambda_proxy):
    """'plan reads, apply writes': the plan lists each change (the public URL loudly), nothing is written."""
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role, alias="live")).code == 0
    writes = len(lambda_writes(lambda_proxy))
    result = aws_action.run(update_inputs(function_name, alias="live", **{
        "dry-run": "true", "function-url": "public", "reserved-concurrency": "3", "provisioned-concurrency": "1",
        "ephemeral-storage": "1024", "dead-letter-arn": DLQ, "log-format": "JSON", "snap-start": "PublishedVersions",
        "force": "true", "layers": "none",
    }))
    no_traceback(result)
    assert (result.code, result.outputs["changed"]) == (0, "true"), result.stdout
    assert len(lambda_writes(lambda_proxy)) == writes
    (plan,) = json.loads(result.outputs["plan"])
    fields = {c["field"] for c in plan["changes"]}
    assert {"EphemeralStorage", "DeadLetterConfig", "SnapStart", "LoggingConfig", "reserved concurrency",
            "provisioned concurrency of alias live"} <= fields, fields
    assert any("anyone on the internet" in s for s in plan["steps"]) and any("force" in s for s in plan["steps"])


def test_log_group_alone_keeps_the_json_format(aws_action, workspace, function_name, aws_role, lambda_proxy, lam):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role, **{"log-format": "JSON"})).code == 0
    result = aws_action.run(update_inputs(function_name, **{"log-group": "/custom/group"}))
    no_traceback(result)
    assert (result.code, result.outputs["changed"]) == (0, "true"), result.stdout
    logging = lam.get_function_configuration(FunctionName=function_name)["LoggingConfig"]
    assert (logging["LogFormat"], logging["LogGroup"]) == ("JSON", "/custom/group")


def test_a_cancellation_during_the_provisioned_wait_does_not_claim_nothing_changed(aws_action, workspace, function_name, aws_role, lambda_proxy):
    """Every failure the world can cause ends in 'a clear ::error' (the project's rule); this one
    must not say that nothing was changed when version 1 and alias live were created."""
    import signal

    write_app(workspace)
    lambda_proxy.script_provisioned(function_name, in_progress_polls=1000)
    running = aws_action.start(create_inputs(function_name, aws_role, alias="live", **{"provisioned-concurrency": "2"}))
    running.wait_for("Waiting for provisioned concurrency")
    running.signal(signal.SIGTERM)
    result = running.finish(timeout=30)
    no_traceback(result)
    assert result.code == 1 and len(result.errors) == 1, result.stdout
    assert "nothing was changed" not in result.errors[0], result.errors[0]
