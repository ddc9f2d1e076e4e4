"""Issue 14's input rules, table-driven, and package-out's file: inputs → problems or parsed values."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from faas_action import config, package
from faas_action.models import UNRESERVED
from tests.test_config import AWS, load

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1"
ACCESS_POINT = "arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/fsap-0123456789abcdef0"


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x = 1\n")
    return tmp_path


@pytest.mark.parametrize(
    ("inputs", "fields"),
    [
        ({"image-uri": "docker.io/library/python:3.12"}, ["image-uri"]),
        ({"image-uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"}, ["image-uri"]),  # no tag or digest
        ({"image-uri": IMAGE, "handler": "app.handler", "runtime": "python3.12"}, ["handler", "runtime"]),
        ({"image-uri": IMAGE, "layers": "none", "s3-bucket": "my-bucket"}, ["layers", "s3-bucket"]),
        ({"image-uri": IMAGE, "dependencies": "requirements.txt"}, ["dependencies"]),
        ({"image-uri": IMAGE.replace("eu-west-1", "us-east-1")}, ["image-uri"]),  # not the function's region
        ({"image-uri": IMAGE, "source": "src"}, ["source"]),
        ({"image-uri": IMAGE, "package": "dist.zip"}, ["package"]),
        ({"image-uri": IMAGE, "package-out": "out.zip"}, ["package-out"]),
        ({"image-command": "app.handler"}, ["image-command"]),
        ({"image-working-directory": "/var/task"}, ["image-working-directory"]),
        ({"subnet-ids": "none", "security-group-ids": "sg-0123abcd"}, ["security-group-ids"]),
        ({"subnet-ids": "subnet-0123abcd", "security-group-ids": "none"}, ["security-group-ids"]),
        ({"security-group-ids": "sg-0123abcd"}, ["subnet-ids"]),
        ({"provisioned-concurrency": "5"}, ["provisioned-concurrency"]),
        ({"alias": "live", "provisioned-concurrency": "-1"}, ["provisioned-concurrency"]),
        ({"function-url": "open"}, ["function-url"]),
        ({"function-url-cors": "AllowOrigins: ['*']"}, ["function-url-cors"]),
        ({"function-url": "iam", "function-url-cors": "Origins: ['*']"}, ["function-url-cors"]),
        ({"function-url": "iam", "function-url-cors": "MaxAge: 100000"}, ["function-url-cors"]),
        ({"function-url": "iam", "function-url-cors": "- a"}, ["function-url-cors"]),
        ({"reserved-concurrency": "some"}, ["reserved-concurrency"]),
        ({"ephemeral-storage": "10241"}, ["ephemeral-storage"]),
        ({"log-format": "xml"}, ["log-format"]),
        ({"log-group": "bad group!"}, ["log-group"]),
        ({"snap-start": "Always"}, ["snap-start"]),
        ({"dead-letter-arn": "arn:aws:s3:::bucket"}, ["dead-letter-arn"]),
        ({"kms-key-arn": "alias/aws/lambda"}, ["kms-key-arn"]),
        ({"file-system-configs": f"{ACCESS_POINT}=/data"}, ["file-system-configs"]),
        ({"file-system-configs": f"{ACCESS_POINT}=/mnt/a\n{ACCESS_POINT}=/mnt/b"}, ["file-system-configs"]),
        ({"force": "true", "publish": "false"}, ["force"]),
        ({"package-out": "../out.zip"}, ["package-out"]),
        ({"package-out": "src"}, ["package-out"]),  # a directory
        ({"package-out": "out.zip", "package": "dist.zip"}, ["package-out"]),
    ],
)
def test_problems(ws, inputs, fields):
    (ws / "dist.zip").write_bytes(_zip())
    cfg = load({**AWS, **inputs}, ws)
    assert sorted(p.field for p in cfg.problems) == sorted(fields), cfg.problems


@pytest.mark.parametrize(("value", "said"), [
    ("AllowOrigins: ['https://a.example']\nAllowOrigins: ['https://b.example']", "duplicate key 'AllowOrigins' (first at line 1)"),
    ("{AllowOrigins: [}", "line 1"),
])
def test_a_cors_value_that_is_not_valid_yaml_says_why(ws, value, said):
    cfg = load({**AWS, "function-url": "iam", "function-url-cors": value}, ws)
    assert [p.field for p in cfg.problems] == ["function-url-cors"], cfg.problems
    assert said in cfg.problems[0].message and "expected a mapping" not in cfg.problems[0].message


def test_issue_14_inputs_apply_to_aws_only(ws):
    cfg = load({"provider": "gcp", "function-name": "fn", "region": "us-central1", "project": "my-project-1", "source": "src",
                "function-url": "public", "force": "true", "snap-start": "None"}, ws)
    assert sorted(p.field for p in cfg.problems) == ["force", "function-url", "snap-start"]


def test_none_clears_and_an_empty_input_leaves_alone(ws):
    cleared = load({**AWS, "source": "src", "layers": "none", "subnet-ids": "NONE", "dead-letter-arn": "none", "kms-key-arn": "none",
                    "file-system-configs": "none", "reserved-concurrency": "none"}, ws)
    assert not cleared.problems, cleared.problems
    options = cleared.specs[0].options
    assert (options.layers, options.subnet_ids, options.security_group_ids) == ((), (), ())
    assert (options.dead_letter_arn, options.kms_key_arn, options.file_system_configs) == ("", "", ())
    assert options.reserved_concurrency == UNRESERVED
    untouched = load({**AWS, "source": "src"}, ws).specs[0].options
    assert (untouched.layers, untouched.subnet_ids, untouched.dead_letter_arn, untouched.reserved_concurrency) == (None, None, None, None)


def test_image_function_has_nothing_to_package(ws):
    cfg = load({**AWS, "image-uri": IMAGE, "image-command": '["app.handler", "--flag=a,b"]',
                "image-entrypoint": "/lambda-entrypoint.sh", "image-working-directory": "none"}, ws)
    assert not cfg.problems, cfg.problems
    spec = cfg.specs[0]
    assert (spec.source, spec.package, spec.options.image_uri) == (None, None, IMAGE)
    assert spec.options.image_command == ("app.handler", "--flag=a,b")
    assert (spec.options.image_entrypoint, spec.options.image_working_directory) == (("/lambda-entrypoint.sh",), "")


def test_settings_are_parsed_to_lambdas_values(ws):
    cfg = load({**AWS, "source": "src", "alias": "live", "provisioned-concurrency": "0", "reserved-concurrency": "0",
                "log-format": "json", "snap-start": "publishedversions", "function-url": "public",
                "function-url-cors": '{"AllowOrigins": ["https://a.example"], "AllowCredentials": true, "MaxAge": 30}',
                "file-system-configs": f"{ACCESS_POINT}=/mnt/data", "ephemeral-storage": "10240", "force": "true"}, ws)
    assert not cfg.problems, cfg.problems
    options = cfg.specs[0].options
    assert (options.provisioned_concurrency, options.reserved_concurrency) == (0, 0)
    assert (options.log_format, options.snap_start, options.function_url) == ("JSON", "PublishedVersions", "public")
    assert dict(options.function_url_cors) == {"AllowOrigins": ("https://a.example",), "AllowCredentials": True, "MaxAge": 30}
    assert options.file_system_configs == ((ACCESS_POINT, "/mnt/data"),)
    assert (options.ephemeral_storage_mb, options.force) == (10240, True)


def test_package_out_is_one_file_per_function(ws):
    (ws / "faas.yml").write_text("provider: aws\nregion: eu-west-1\nsource: src\npackage-out: out/fn.zip\n"
                                 "functions:\n  - function-name: a\n  - function-name: b\n")
    cfg = config.load({**dict(config.input_defaults()), "provider": "aws", "config": "faas.yml"}, {}, ws)
    assert [p.field for p in cfg.problems] == ["package-out"] and "out/fn.zip" in cfg.problems[0].message


def test_export_writes_exactly_the_file_asked_for_owned_like_the_workspace(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    built = tmp_path / "build" / "package.zip"
    built.parent.mkdir()
    built.write_bytes(_zip())
    artifact = package.describe(built)
    if os.geteuid() == 0:
        os.chown(workspace, 4321, 4321)  # the runner's user owns the checkout; the container runs as root
    relative = package.export(artifact, workspace / "dist" / "nested" / "fn.zip", workspace)
    assert relative == "dist/nested/fn.zip"
    written = workspace / "dist" / "nested" / "fn.zip"
    assert written.read_bytes() == built.read_bytes()
    assert sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*")) == ["dist", "dist/nested", "dist/nested/fn.zip"]
    assert oct(written.stat().st_mode & 0o777) == oct(0o644)
    if os.geteuid() == 0:
        assert {(p.stat().st_uid, p.stat().st_gid) for p in workspace.rglob("*")} == {(4321, 4321)}
    # Written again over the old one: replaced whole, nothing left beside it.
    package.export(artifact, written, workspace)
    assert sorted(p.name for p in written.parent.iterdir()) == ["fn.zip"]


def _zip() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "x = 1\n")
    return buffer.getvalue()


def test_loader_paths_are_relative_to_the_workspace(ws):
    cfg = load({**AWS, "source": "src", "package-out": "dist/fn.zip"}, ws)
    assert cfg.specs[0].package_out == (ws / "dist" / "fn.zip").resolve()
    assert isinstance(cfg.specs[0].package_out, Path)
