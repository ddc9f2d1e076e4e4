"""Issue 14 end to end: entrypoint.py as the runner runs it, against moto (and its ECR) behind the
proxy. Container-image functions, function URLs on the alias, clearing with `none`, the new
settings, package-out then a deploy of that zip, force, provisioned concurrency."""

from __future__ import annotations

import json
import zipfile

import pytest

from tests.conftest import REGISTRY, boto_client
from tests.test_aws_e2e import create_inputs, lambda_client, write_app


def lambda_writes(proxy) -> list:
    """Writes to Lambda (ECR's API is all POSTs to `/`, reads included)."""
    return [w for w in proxy.writes() if w.path.startswith("/20")]


def image_inputs(name: str, uri: str, **extra: str) -> dict[str, str]:
    return {"provider": "aws", "function-name": name, "image-uri": uri, **extra}


def test_image_function_created_updated_to_a_new_digest_then_a_no_op(aws_action, function_name, aws_role, lambda_proxy, ecr):
    first = ecr("v1", "first build")
    created = aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", role=aws_role, alias="live", **{"image-command": "app.handler"}))
    assert created.code == 0, created.stdout + created.stderr
    assert "nothing to package" in created.stdout
    assert (created.outputs["code-sha256"], created.outputs["package-size"], created.outputs["version"]) == (first, "", "1")
    create = lambda_proxy.calls("POST", r"/functions$")[0].body
    assert create["PackageType"] == "Image" and create["Code"] == {"ImageUri": f"{ecr.uri}:v1"}
    assert "Runtime" not in create and "Handler" not in create
    function = lambda_client(lambda_proxy).get_function(FunctionName=function_name)
    assert function["Configuration"]["ImageConfigResponse"]["ImageConfig"]["Command"] == ["app.handler"]

    second = ecr("v1", "second build")  # the same tag pushed again: a new digest
    dry = aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", alias="live", **{"dry-run": "true"}))
    assert dry.code == 0, dry.stdout
    assert json.loads(dry.outputs["plan"])[0]["code-sha256"] == {"old": first, "new": second}
    assert dry.outputs["code-sha256"] == second and dry.outputs.get("package-size", "") == ""
    updated = aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", alias="live", **{"image-command": "app.other"}))
    assert updated.code == 0, updated.stdout
    assert (updated.outputs["code-sha256"], updated.outputs["version"], updated.outputs["changed"]) == (second, "2", "true")
    assert lambda_client(lambda_proxy).get_alias(FunctionName=function_name, Name="live")["FunctionVersion"] == "2"
    config = lambda_client(lambda_proxy).get_function(FunctionName=function_name, Qualifier="2")["Configuration"]
    assert config["ImageConfigResponse"]["ImageConfig"]["Command"] == ["app.other"]

    writes = len(lambda_writes(lambda_proxy))
    by_tag = aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", alias="live", **{"image-command": "app.other"}))
    assert (by_tag.code, by_tag.outputs["changed"], by_tag.outputs["version"]) == (0, "false", "2"), by_tag.stdout
    by_digest = aws_action.run(image_inputs(function_name, f"{ecr.uri}@sha256:{second}", alias="live", **{"image-command": "app.other"}))
    assert by_digest.code == 0, by_digest.stdout
    assert (by_digest.outputs["changed"], by_digest.outputs["version"], by_digest.outputs["code-sha256"]) == ("false", "2", second)
    assert len(lambda_writes(lambda_proxy)) == writes, "a no-op made a write call"


def test_ecr_refusing_to_describe_the_tag_deploys_it_again_with_a_warning(aws_action, function_name, aws_role, lambda_proxy, ecr):
    digest = ecr("v1", "build")
    assert aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1", role=aws_role)).code == 0
    # ECR speaks the JSON protocol: the error's type travels in the body's __type.
    lambda_proxy.fail("POST", r"^/$", 400, "AccessDeniedException", "not authorized to perform: ecr:DescribeImages",
                      __type="AccessDeniedException")
    result = aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1"))
    assert result.code == 0, result.stdout
    assert any(line.startswith("::warning::") and "ecr:DescribeImages" in line for line in result.stdout.splitlines())
    assert lambda_proxy.calls("PUT", rf"/functions/{function_name}/code$")[-1].body["ImageUri"] == f"{ecr.uri}:v1"
    assert result.outputs["code-sha256"] == digest


def test_an_image_missing_from_ecr_fails_before_any_write(aws_action, function_name, aws_role, lambda_proxy, ecr):
    result = aws_action.run(image_inputs(function_name, f"{ecr.uri}:never-pushed", role=aws_role))
    assert result.code == 1
    assert len(result.errors) == 1 and "not in ECR" in result.errors[0] and "push the image first" in result.errors[0]
    assert lambda_writes(lambda_proxy) == []


def test_package_type_cannot_change_in_place(aws_action, workspace, function_name, aws_role, lambda_proxy, ecr):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role)).code == 0
    digest = ecr("v1", "image")
    writes = len(lambda_writes(lambda_proxy))
    refused = aws_action.run(image_inputs(function_name, f"{ecr.uri}:v1"))
    assert refused.code == 1
    assert len(refused.errors) == 1 and "zip function" in refused.errors[0] and "in place" in refused.errors[0]
    assert len(lambda_writes(lambda_proxy)) == writes

    image_function = function_name + "-img"
    assert aws_action.run(image_inputs(image_function, f"{ecr.uri}@sha256:{digest}", role=aws_role)).code == 0
    zip_refused = aws_action.run({"provider": "aws", "function-name": image_function, "source": "app"})
    assert zip_refused.code == 1 and "container-image function" in zip_refused.errors[0]


def test_image_inputs_that_do_not_apply_are_reported_before_any_call(aws_action, workspace, lambda_proxy):
    write_app(workspace)
    result = aws_action.run({
        "provider": "aws", "function-name": "f", "image-uri": f"{REGISTRY}/repo:v1", "handler": "app.handler",
        "runtime": "python3.12", "layers": "arn:aws:lambda:us-east-1:123456789012:layer:x:1", "source": "app",
        "package-out": "dist/f.zip",
    })
    assert result.code == 1
    fields = sorted(line.split("::", 2)[2].split(":", 1)[0] for line in result.errors)
    assert fields == ["handler", "layers", "package-out", "runtime", "source"], result.errors
    assert lambda_proxy.requests == []


def test_public_then_iam_url_on_the_alias(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    public = aws_action.run(create_inputs(function_name, aws_role, alias="live", **{
        "function-url": "public", "function-url-cors": "AllowOrigins:\n  - https://example.com\nAllowMethods: [GET]",
    }))
    assert public.code == 0, public.stdout + public.stderr
    url = public.outputs["url"]
    assert url == lambda_proxy.urls[(function_name, "live")]["FunctionUrl"]
    assert lambda_proxy.urls[(function_name, "live")]["Cors"] == {"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"]}
    assert sorted(s["Action"] for s in lambda_proxy.policy_of(function_name, "live")) == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    assert "anyone on the internet can invoke it" in public.summary
    assert any(line.startswith("::warning::") and "public" in line for line in public.stdout.splitlines())

    same = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "alias": "live", "function-url": "public"})
    assert (same.code, same.outputs["changed"], same.outputs["url"]) == (0, "false", url)
    assert "PUBLIC: anyone on the internet can invoke it" in same.stdout and "anyone on the internet" in same.summary

    private = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "alias": "live", "function-url": "iam"})
    assert (private.code, private.outputs["changed"], private.outputs["url"]) == (0, "true", url)
    assert lambda_proxy.urls[(function_name, "live")]["AuthType"] == "AWS_IAM"
    assert lambda_proxy.policy_of(function_name, "live") == []
    assert "anyone on the internet" not in private.summary
    assert not lambda_proxy.calls("POST", rf"/functions/{function_name}/versions$")[1:], "a URL change publishes nothing"


def test_layers_and_vpc_are_cleared_with_none(aws_action, workspace, function_name, aws_role, lambda_proxy, moto_server):
    layer = boto_client("lambda", moto_server).publish_layer_version(
        LayerName=f"layer-{function_name}", Content={"ZipFile": _zip_bytes()}, CompatibleRuntimes=["python3.12"]
    )["LayerVersionArn"]
    write_app(workspace)
    created = aws_action.run(create_inputs(function_name, aws_role, layers=layer, **{
        "subnet-ids": "subnet-0123456789abcdef0", "security-group-ids": "sg-0123456789abcdef0",
    }))
    assert created.code == 0, created.stdout + created.stderr
    config = lambda_client(lambda_proxy).get_function_configuration(FunctionName=function_name)
    assert [x["Arn"] for x in config["Layers"]] == [layer] and config["VpcConfig"]["SubnetIds"] == ["subnet-0123456789abcdef0"]

    cleared = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "layers": "none", "subnet-ids": "none"})
    assert cleared.code == 0, cleared.stdout
    update = lambda_proxy.calls("PUT", rf"/functions/{function_name}/configuration$")[-1].body
    assert update["Layers"] == [] and update["VpcConfig"] == {"SubnetIds": [], "SecurityGroupIds": []}
    config = lambda_client(lambda_proxy).get_function_configuration(FunctionName=function_name)
    assert not config.get("Layers") and not (config.get("VpcConfig") or {}).get("SubnetIds")
    again = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "layers": "none", "subnet-ids": "none"})
    assert (again.code, again.outputs["changed"]) == (0, "false")


def test_new_settings_changed_then_a_no_op_then_cleared(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role, alias="live")).code == 0
    settings = {
        "provider": "aws", "function-name": function_name, "source": "app", "alias": "live",
        "ephemeral-storage": "4096", "dead-letter-arn": "arn:aws:sns:us-east-1:123456789012:failures",
        "kms-key-arn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "log-format": "json", "log-group": "/app/logs", "snap-start": "PublishedVersions",
        "file-system-configs": "arn:aws:elasticfilesystem:us-east-1:123456789012:access-point/fsap-0123456789abcdef0=/mnt/efs",
        "reserved-concurrency": "7",
    }
    changed = aws_action.run(settings)
    assert changed.code == 0, changed.stdout + changed.stderr
    assert (changed.outputs["changed"], changed.outputs["version"]) == ("true", "2")
    served = lambda_client(lambda_proxy).get_function(FunctionName=function_name, Qualifier="live")
    config = served["Configuration"]
    assert config["EphemeralStorage"] == {"Size": 4096}
    assert config["DeadLetterConfig"] == {"TargetArn": settings["dead-letter-arn"]}
    assert config["KMSKeyArn"] == settings["kms-key-arn"]
    assert (config["LoggingConfig"]["LogFormat"], config["LoggingConfig"]["LogGroup"]) == ("JSON", "/app/logs")
    assert config["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    assert config["FileSystemConfigs"] == [{"Arn": settings["file-system-configs"].split("=")[0], "LocalMountPath": "/mnt/efs"}]
    assert lambda_client(lambda_proxy).get_function(FunctionName=function_name)["Concurrency"] == {"ReservedConcurrentExecutions": 7}

    writes = len(lambda_proxy.writes())
    same = aws_action.run(settings)
    assert (same.code, same.outputs["changed"], same.outputs["version"]) == (0, "false", "2"), same.stdout
    assert len(lambda_proxy.writes()) == writes

    clear = {**settings, **{k: "none" for k in ("dead-letter-arn", "kms-key-arn", "file-system-configs", "reserved-concurrency")}}
    cleared = aws_action.run(clear)
    assert (cleared.code, cleared.outputs["changed"], cleared.outputs["version"]) == (0, "true", "3"), cleared.stdout
    config = lambda_client(lambda_proxy).get_function(FunctionName=function_name, Qualifier="live")["Configuration"]
    assert not {"DeadLetterConfig", "KMSKeyArn", "FileSystemConfigs"} & set(config)
    assert "Concurrency" not in lambda_client(lambda_proxy).get_function(FunctionName=function_name)
    assert aws_action.run(clear).outputs["changed"] == "false"


def test_package_out_in_a_dry_run_then_a_deploy_of_that_zip(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    built = aws_action.run(create_inputs(function_name, aws_role, **{"dry-run": "true", "package-out": "dist/build/fn.zip"}))
    assert built.code == 0, built.stdout + built.stderr
    assert built.outputs["package-path"] == "dist/build/fn.zip"
    written = workspace / "dist" / "build" / "fn.zip"
    assert written.is_file() and zipfile.is_zipfile(written)
    assert sorted(p.name for p in (workspace / "dist" / "build").iterdir()) == ["fn.zip"], "only the file asked for"
    assert lambda_proxy.writes() == []

    inputs = create_inputs(function_name, aws_role, package="dist/build/fn.zip")
    del inputs["source"]
    deployed = aws_action.run(inputs)
    assert deployed.code == 0, deployed.stdout
    assert deployed.outputs["code-sha256"] == built.outputs["code-sha256"]
    assert lambda_client(lambda_proxy).get_function_configuration(FunctionName=function_name)["CodeSha256"] == built.outputs["code-sha256"]


def test_package_out_leaving_the_workspace_is_an_input_error(aws_action, workspace, lambda_proxy, tmp_path):
    write_app(workspace)
    result = aws_action.run({"provider": "aws", "function-name": "f", "source": "app", "package-out": "../escape.zip"})
    assert result.code == 1 and len(result.errors) == 1
    assert "package-out" in result.errors[0] and "outside the workspace" in result.errors[0]
    assert not (tmp_path / "escape.zip").exists()
    assert lambda_proxy.requests == []


def test_force_publishes_a_new_version_of_unchanged_code(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    assert aws_action.run(create_inputs(function_name, aws_role, alias="live")).code == 0
    inputs = {"provider": "aws", "function-name": function_name, "source": "app", "alias": "live"}
    assert aws_action.run(inputs).outputs["changed"] == "false"
    forced = aws_action.run({**inputs, "force": "true"})
    assert forced.code == 0, forced.stdout
    assert (forced.outputs["changed"], forced.outputs["version"]) == ("true", "2")
    assert "force: upload the same code again" in forced.stdout
    assert lambda_client(lambda_proxy).get_alias(FunctionName=function_name, Name="live")["FunctionVersion"] == "2"
    assert aws_action.run(inputs).outputs["version"] == "2", "without force, the next run is a no-op again"


@pytest.mark.parametrize(("status", "reason"), [("READY", ""), ("FAILED", "The function could not be initialized")])
def test_provisioned_concurrency_ready_or_failed(aws_action, workspace, function_name, aws_role, lambda_proxy, status, reason):
    write_app(workspace)
    lambda_proxy.script_provisioned(function_name, in_progress_polls=1, status=status, reason=reason)
    result = aws_action.run(create_inputs(function_name, aws_role, alias="live", **{"provisioned-concurrency": "3"}))
    assert "Waiting for provisioned concurrency of alias live: Status=IN_PROGRESS" in result.stdout
    if status == "READY":
        assert result.code == 0, result.stdout
        assert lambda_proxy.provisioned[(function_name, "live")]["Status"] == "READY"
    else:
        assert result.code == 1
        assert len(result.errors) == 1 and f"FAILED: {reason}" in result.errors[0]


def _zip_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/lib.py", "X = 1\n")
    return buffer.getvalue()
