"""End to end: entrypoint.py as the runner runs it installs a function's Python dependencies from
a private index on 127.0.0.1 (basic auth) and deploys to moto behind the Lambda proxy. uv never
reaches PyPI: the index settings name the local index, uv reads no machine configuration."""

from __future__ import annotations

import base64
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from tests.fakes.package_index import (  # noqa: F401 (fixture)
    INDEX_PASSWORD,
    INDEX_USER,
    installer_env,
    package_index,
    write_wheel,
)


def write_app(workspace: Path, requirements: str = "hello-dep==1.0\n") -> None:
    app = workspace / "app"
    app.mkdir(exist_ok=True)
    (app / "app.py").write_text("from hello_dep import hello\n\ndef handler(event, context):\n    return hello()\n")
    (app / "requirements.txt").write_text(requirements)


def inputs(name: str, role: str, **extra: str) -> dict[str, str]:
    return {
        "provider": "aws",
        "function-name": name,
        "source": "app",
        "runtime": "python3.12",
        "handler": "app.handler",
        "role": role,
        "dependencies": "requirements.txt",
        **extra,
    }


def uploaded_zip(lambda_proxy, name: str) -> zipfile.ZipFile:
    """The package the last create or code update of `name` sent to Lambda."""
    calls = lambda_proxy.calls("POST", r"/functions$") + lambda_proxy.calls("PUT", rf"/functions/{name}/code$")
    bodies = [c.body for c in calls if c.body.get("FunctionName", name) == name]
    zip_file = bodies[-1]["Code"]["ZipFile"] if "Code" in bodies[-1] else bodies[-1]["ZipFile"]
    return zipfile.ZipFile(io.BytesIO(base64.b64decode(zip_file)))


def assert_never_shown(result, secret: str = INDEX_PASSWORD) -> None:
    """Only the ::add-mask:: command carries the secret; never a log line, an output, the summary."""
    shown = [ln for ln in (result.stdout + result.stderr).splitlines() if secret in ln and not ln.startswith("::add-mask::")]
    assert shown == []
    assert secret not in json.dumps(result.outputs) and secret not in result.summary


@pytest.mark.parametrize(("architecture", "machine"), [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_each_architecture_gets_its_own_wheels(aws_action, workspace, function_name, aws_role, lambda_proxy, package_index,
                                               architecture, machine):
    write_app(workspace)
    extra = {"architectures": architecture} if architecture != "x86_64" else {}  # x86_64: Lambda's default
    # The image's own installer setting asks for bytecode: a function's package never gets any.
    result = aws_action.run(inputs(function_name, aws_role, **extra), env=installer_env(package_index, UV_COMPILE_BYTECODE="1"))
    assert result.code == 0, result.stdout + result.stderr
    assert result.outputs["changed"] == "true"

    archive = uploaded_zip(lambda_proxy, function_name)
    names = archive.namelist()
    assert archive.read("native_dep/__init__.py").decode() == f"ARCH = {machine!r}\n"
    assert {"app.py", "requirements.txt", "hello_dep/__init__.py", "native_dep-2.0.dist-info/METADATA"} <= set(names)
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n or n.endswith(("/INSTALLER", "/REQUESTED"))]
    assert names == sorted(names)
    assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}

    assert f"manylinux_2_34_{machine}" in result.stdout
    assert "native-dep 2.0" in result.stdout
    assert "| native-dep | 2.0 |" in result.summary and "| hello-dep | 1.0 |" in result.summary
    assert_never_shown(result)


def test_same_inputs_same_package_and_the_redeploy_is_a_no_op(aws_action, workspace, function_name, aws_role, lambda_proxy,
                                                              package_index):
    write_app(workspace, "hello-dep\ntool-dep\n")
    first = aws_action.run(inputs(function_name, aws_role), env=installer_env(package_index))
    assert first.code == 0, first.stdout + first.stderr
    writes = len(lambda_proxy.writes())
    # A new run: a fresh runner temp (a cold cache), pip's setting instead of uv's.
    again = aws_action.run(inputs(function_name, aws_role),
                           env={"PIP_INDEX_URL": package_index.url, "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"})
    assert again.code == 0, again.stdout + again.stderr
    assert again.outputs["code-sha256"] == first.outputs["code-sha256"]
    assert again.outputs["changed"] == "false"
    assert len(lambda_proxy.writes()) == writes, "a no-op made a write call"
    assert_never_shown(first)
    assert_never_shown(again)


def test_an_arm64_function_updated_without_architectures_is_refused(aws_action, workspace, function_name, aws_role,
                                                                    lambda_proxy, package_index):
    """`architectures` not given means x86_64 wheels: the plan sees the function runs on arm64
    and stops before uploading a package that could not import its native modules."""
    write_app(workspace)
    created = aws_action.run(inputs(function_name, aws_role, architectures="arm64"), env=installer_env(package_index))
    assert created.code == 0, created.stdout + created.stderr
    writes = len(lambda_proxy.writes())
    result = aws_action.run({"provider": "aws", "function-name": function_name, "source": "app", "runtime": "python3.12",
                             "dependencies": "requirements.txt"}, env=installer_env(package_index))
    assert result.code == 1
    assert len(result.errors) == 1 and "runs on arm64" in result.errors[0] and "architectures: arm64" in result.errors[0]
    assert len(lambda_proxy.writes()) == writes


def test_dry_run_plan_lists_dependencies_and_the_size_split(aws_action, workspace, function_name, aws_role, package_index,
                                                            lambda_proxy):
    write_app(workspace)
    result = aws_action.run(inputs(function_name, aws_role, **{"dry-run": "true"}), env=installer_env(package_index))
    assert result.code == 0, result.stdout + result.stderr
    (plan,) = json.loads(result.outputs["plan"])
    package = plan["package"]
    assert [(d["name"], d["version"]) for d in package["dependencies"]] == [("hello-dep", "1.0"), ("native-dep", "2.0")]
    assert package["dependencies-target"] == {"python": "3.12", "platform": "x86_64-manylinux_2_34"}
    assert package["source-size"] + package["dependencies-size"] == package["unzipped-size"]
    assert package["source-size"] == sum(len(p.read_bytes()) for p in (workspace / "app").iterdir())
    assert "source +" in result.stdout and "dependencies" in result.summary
    assert not [c for c in lambda_proxy.writes()]


def test_a_dependency_without_a_wheel_fails_naming_it_and_the_platform(aws_action, workspace, function_name, aws_role,
                                                                      lambda_proxy, package_index):
    write_app(workspace, "hello-dep\nno-wheel-dep\n")
    result = aws_action.run(inputs(function_name, aws_role, architectures="arm64"), env=installer_env(package_index))
    assert result.code == 1, result.stdout + result.stderr
    assert len(result.errors) == 1
    assert "no-wheel-dep" in result.errors[0] and "manylinux_2_34_aarch64" in result.errors[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert lambda_proxy.requests == []
    assert_never_shown(result)


def test_the_size_check_counts_the_dependencies(aws_action, workspace, function_name, aws_role, lambda_proxy, package_index):
    """A small source with a 51 MB dependency is over the 50 MB direct upload: refused before any
    call, naming the biggest installed packages."""
    write_wheel(package_index.directory, "big-dep", "1.0", files={"big_dep/blob.bin": os.urandom(51 * 1024 * 1024)},
                stored=True)
    try:
        write_app(workspace, "big-dep\nhello-dep\n")
        result = aws_action.run(inputs(function_name, aws_role), env=installer_env(package_index))
    finally:
        (package_index.directory / "big_dep-1.0-py3-none-any.whl").unlink()
    assert result.code == 1, result.stdout + result.stderr
    assert len(result.errors) == 1
    assert "50 MB" in result.errors[0] and "big-dep 1.0 (51.0 MiB)" in result.errors[0]
    assert lambda_proxy.requests == []


def test_input_problems_are_reported_before_the_index_is_asked(aws_action, workspace, lambda_proxy, package_index):
    write_app(workspace)
    before = len(package_index.requests)
    result = aws_action.run({"provider": "aws", "function-name": "f", "source": "app", "dependencies": "../outside.txt",
                             "memory": "1"}, env=installer_env(package_index))
    assert result.code == 1
    assert len(result.errors) == 3, result.errors  # outside `source`, no runtime, memory
    assert len(package_index.requests) == before and lambda_proxy.requests == []

    other = aws_action.run({"provider": "aws", "function-name": "f", "source": "app", "dependencies": "requirements.txt",
                            "runtime": "python3.12", "memory": "1"}, env=installer_env(package_index))
    assert other.code == 1 and len(other.errors) == 1 and "memory" in other.errors[0]
    assert len(package_index.requests) == before, "dependencies were installed although the inputs were bad"


def test_dependencies_on_gcp_is_an_input_error(action, workspace, package_index):
    write_app(workspace)
    result = action.run({"provider": "gcp", "function-name": "fn", "region": "us-central1", "project": "my-project-1",
                         "source": "app", "runtime": "python312", "dependencies": "requirements.txt"},
                        env=installer_env(package_index))
    assert result.code == 1
    assert len(result.errors) == 1
    assert "dependencies" in result.errors[0] and "requirements.txt" in result.errors[0] and "Cloud Build" in result.errors[0]


def test_cache_in_the_workspace_is_kept_between_runs_and_never_packaged(aws_action, workspace, function_name, aws_role,
                                                                       lambda_proxy, package_index):
    write_app(workspace)
    cache_inputs = inputs(function_name, aws_role, source=".", handler="app.app.handler", **{"dependencies": "app/requirements.txt",
                                                                                           "dependencies-cache": ".uv-cache"})
    first = aws_action.run(cache_inputs, env=installer_env(package_index))
    assert first.code == 0, first.stdout + first.stderr
    assert (workspace / ".uv-cache").is_dir()
    assert not [n for n in uploaded_zip(lambda_proxy, function_name).namelist() if n.startswith(".uv-cache")]

    downloads = len(package_index.requests)
    again = aws_action.run(cache_inputs, env=installer_env(package_index))
    assert again.code == 0, again.stdout + again.stderr
    assert again.outputs["changed"] == "false"
    assert again.outputs["code-sha256"] == first.outputs["code-sha256"]
    assert not [r for r, _ in package_index.requests[downloads:] if r.startswith("GET /files/")], "the warm cache downloaded wheels again"


# -- Azure Functions: installed here into .python_packages, or built remotely by the platform ---


@pytest.fixture
def azure():
    from tests.fakes.azure_fake import FakeAzure

    with FakeAzure() as server:
        yield server


def write_function_app(workspace: Path) -> None:
    (workspace / "host.json").write_text('{"version": "2.0"}')
    (workspace / "function_app.py").write_text("import azure.functions as func\napp = func.FunctionApp()\n")
    (workspace / "requirements.txt").write_text("azure-functions\nhello-dep\n")
    (workspace / "requirements-deploy.txt").write_text("hello-dep\n")


def azure_run(action, azure, env=None, **extra: str):
    from tests.fakes.azure_fake import RESOURCE_GROUP, SUBSCRIPTION, TOKEN

    base = {"provider": "azure", "function-name": "app", "resource-group": RESOURCE_GROUP, "subscription-id": SUBSCRIPTION,
            "azure-access-token": TOKEN, "wait-timeout": "20"}
    return action.run({**base, **extra}, {**azure.env(), **(env or {})})


def test_azure_python_app_gets_its_dependencies_in_python_packages(action, workspace, azure, package_index):
    write_function_app(workspace)
    azure.add_site("app", sku="FlexConsumption")
    result = azure_run(action, azure, env=installer_env(package_index), dependencies="requirements-deploy.txt",
                       runtime="python3.11")
    assert result.code == 0, result.stdout + result.stderr
    (publish,) = azure.calls("POST", "/api/publish", service="kudu")
    assert publish.query["RemoteBuild"] == "false"
    archive = zipfile.ZipFile(io.BytesIO(publish.body))
    site_packages = ".python_packages/lib/site-packages/"
    assert archive.read(site_packages + "native_dep/__init__.py").decode() == "ARCH = 'x86_64'\n"
    assert {"host.json", "function_app.py", site_packages + "hello_dep/__init__.py"} <= set(archive.namelist())
    assert "manylinux_2_28_x86_64" in result.stdout
    assert_never_shown(result)

    azure.requests.clear()
    again = azure_run(action, azure, env=installer_env(package_index), dependencies="requirements-deploy.txt",
                      runtime="python3.11")
    assert again.code == 0, again.stdout + again.stderr
    assert again.outputs["changed"] == "false" and azure.writes() == []


def test_azure_remote_build_on_flex_asks_kudu_to_build(action, workspace, azure):
    write_function_app(workspace)
    azure.add_site("app", sku="FlexConsumption")
    result = azure_run(action, azure, **{"remote-build": "true"})
    assert result.code == 0, result.stdout + result.stderr
    (publish,) = azure.calls("POST", "/api/publish", service="kudu")
    assert publish.query["RemoteBuild"] == "true"
    assert json.loads(publish.query["message"])["remoteBuild"] is True
    assert not [n for n in zipfile.ZipFile(io.BytesIO(publish.body)).namelist() if n.startswith(".python_packages")]

    azure.requests.clear()
    again = azure_run(action, azure, **{"remote-build": "true"})
    assert again.code == 0 and again.outputs["changed"] == "false" and azure.writes() == []
    # The same package without the remote build is another deploy: what runs would differ.
    local = azure_run(action, azure)
    assert local.code == 0 and local.outputs["changed"] == "true"
    assert azure.calls("POST", "/api/publish", service="kudu")[-1].query["RemoteBuild"] == "false"


@pytest.mark.parametrize(("sku", "kind"), [("ElasticPremium", "functionapp,linux"), ("Dynamic", "functionapp,linux")])
def test_azure_remote_build_on_zip_deploy_sets_the_oryx_setting(action, workspace, azure, sku, kind):
    """On Linux Consumption auto picks zipdeploy (run-from-package runs no build), as the Azure CLI."""
    write_function_app(workspace)
    site = azure.add_site("app", sku=sku, kind=kind, settings={"ENABLE_ORYX_BUILD": "false", "KEPT": "1"})
    result = azure_run(action, azure, **{"remote-build": "true"})
    assert result.code == 0, result.stdout + result.stderr
    assert result.outputs["deploy-method"] == "zipdeploy"
    assert site.settings["SCM_DO_BUILD_DURING_DEPLOYMENT"] == "true" and site.settings["KEPT"] == "1"
    assert "ENABLE_ORYX_BUILD" not in site.settings
    (put,) = azure.calls("PUT", "/config/appsettings")
    (post,) = azure.calls("POST", "/api/zipdeploy", service="kudu")
    assert azure.requests.index(put) < azure.requests.index(post)

    azure.requests.clear()
    again = azure_run(action, azure, **{"remote-build": "true"})
    assert again.code == 0 and again.outputs["changed"] == "false" and azure.writes() == []


def test_azure_warns_when_kudu_would_build_over_the_installed_dependencies(action, workspace, azure, package_index):
    write_function_app(workspace)
    azure.add_site("app", sku="ElasticPremium", kind="functionapp,linux", settings={"SCM_DO_BUILD_DURING_DEPLOYMENT": "true"})
    result = azure_run(action, azure, env=installer_env(package_index), dependencies="requirements-deploy.txt",
                       runtime="python3.11")
    assert result.code == 0, result.stdout + result.stderr
    assert [ln for ln in result.stdout.splitlines() if ln.startswith("::warning") and "SCM_DO_BUILD_DURING_DEPLOYMENT" in ln]
    (post,) = azure.calls("POST", "/api/zipdeploy", service="kudu")
    assert ".python_packages/lib/site-packages/hello_dep/__init__.py" in zipfile.ZipFile(io.BytesIO(post.body)).namelist()
