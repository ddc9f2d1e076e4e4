"""QA scenarios for issue 15 ("Build stage: install a Python function's dependencies into the
package, for the function's runtime and architecture, reproducibly"), written from the issue's
text and run as the runner runs the action: entrypoint.py in a subprocess, a private package
index on 127.0.0.1 (tests/fakes/package_index.py, basic auth) named through the standard index
settings, moto behind the Lambda proxy and the fake ARM/Kudu server.

They go past test_dependencies_e2e.py: a transitive dependency without a wheel, glibc levels per
runtime, every `dependencies-platform` form, the same bytes whatever the cache, link mode and
bytecode settings, ignore rules that must not touch the dependencies, every index setting form
and its credentials (a wrong password, extra index, find-links, credentials in the requirements
file), an unreachable index, the caches' places, and the input errors before any index request.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from tests.fakes.azure_fake import RESOURCE_GROUP, SUBSCRIPTION, TOKEN as AZURE_TOKEN, FakeAzure
from tests.fakes.network import Blackhole, closed_port_url
from tests.fakes.package_index import (  # noqa: F401 (fixture)
    INDEX_PASSWORD,
    PackageIndex,
    installer_env,
    package_index,
    write_wheel,
)
from tests.qa_checks import assert_secret_never_shown, assert_well_behaved

pytestmark = pytest.mark.timeout(240)

RUN_DEADLINE_S = 120


def write_app(workspace: Path, requirements: str = "hello-dep==1.0\n", source: str = "app") -> Path:
    app = workspace / source
    app.mkdir(parents=True, exist_ok=True)
    (app / "app.py").write_text("def handler(event, context):\n    return 'hi'\n")
    (app / "requirements.txt").write_text(requirements)
    return app


def aws_inputs(name: str, role: str, **extra: str) -> dict[str, str]:
    return {"provider": "aws", "function-name": name, "source": "app", "runtime": "python3.12", "handler": "app.handler",
            "role": role, "dependencies": "requirements.txt", "wait-timeout": "60", **extra}


def bare_env(**extra: str) -> dict[str, str]:
    """No machine configuration of uv, no interpreter downloads (what installer_env adds)."""
    return {"UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never", **extra}


def package_of(workspace: Path, result) -> zipfile.ZipFile:
    """The zip written by `package-out: dist/fn.zip`."""
    assert result.outputs.get("package-path") == "dist/fn.zip", result.outputs
    return zipfile.ZipFile(io.BytesIO((workspace / "dist" / "fn.zip").read_bytes()))


@pytest.fixture
def extra_wheels(package_index):
    """Wheels a test adds to the session's index; removed afterwards."""
    added: list[Path] = []

    def add(*args, **kwargs) -> Path:
        path = write_wheel(package_index.directory, *args, **kwargs)
        added.append(path)
        return path

    yield add
    for path in added:
        path.unlink(missing_ok=True)


# -- the right wheel, or an error naming the dependency and the platform -------------------------


@pytest.mark.parametrize("architecture", ["arm64", "x86_64"])
def test_a_transitive_dependency_without_a_wheel_for_the_platform_is_named(aws_action, workspace, function_name, aws_role,
                                                                          lambda_proxy, package_index, extra_wheels,
                                                                          architecture):
    extra_wheels("qa-x86-only", "1.0", tag="cp39-abi3-manylinux_2_17_x86_64", files={"qa_x86_only/__init__.py": "X = 1\n"})
    extra_wheels("qa-needs-x86", "1.0", requires=("qa-x86-only",), files={"qa_needs_x86/__init__.py": "Y = 1\n"})
    write_app(workspace, "qa-needs-x86==1.0\n")
    result = aws_action.run(aws_inputs(function_name, aws_role, architectures=architecture, **{"dry-run": "true"}),
                            env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    if architecture == "x86_64":
        assert_well_behaved(result, 0, errors=0)
        return
    assert_well_behaved(result, 1, errors=1)
    assert "qa-x86-only" in result.errors[0] and "manylinux_2_34_aarch64" in result.errors[0], result.errors
    assert lambda_proxy.requests == []


@pytest.mark.parametrize(("runtime", "ok"), [("python3.11", False), ("python3.12", True), ("python3.13", True)])
def test_the_glibc_level_follows_the_lambda_runtime(aws_action, workspace, function_name, aws_role, lambda_proxy,
                                                    package_index, runtime, ok):
    """new-glibc-dep ships a manylinux_2_28 wheel only: Amazon Linux 2023 (python3.12+) loads it,
    Amazon Linux 2 (up to python3.11, manylinux2014) does not."""
    write_app(workspace, "new-glibc-dep==3.0\n")
    result = aws_action.run(aws_inputs(function_name, aws_role, runtime=runtime, **{"dry-run": "true"}),
                            env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    if ok:
        assert_well_behaved(result, 0, errors=0)
        (plan,) = json.loads(result.outputs["plan"])
        assert [d["name"] for d in plan["package"]["dependencies"]] == ["new-glibc-dep"]
    else:
        assert_well_behaved(result, 1, errors=1)
        assert "new-glibc-dep" in result.errors[0] and "manylinux_2_17_x86_64" in result.errors[0], result.errors
        assert lambda_proxy.requests == []


@pytest.mark.parametrize(("platform", "architecture", "machine"), [
    ("aarch64-manylinux_2_28", "arm64", "aarch64"),
    ("manylinux_2_28_aarch64", "arm64", "aarch64"),
    ("manylinux2014_x86_64", "", "x86_64"),
    ("x86_64-manylinux_2_17", "x86_64", "x86_64"),
])
def test_every_dependencies_platform_form_installs_that_platforms_wheel(aws_action, workspace, function_name, aws_role,
                                                                        lambda_proxy, package_index, platform, architecture,
                                                                        machine):
    write_app(workspace)
    extra = {"architectures": architecture} if architecture else {}
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"dependencies-platform": platform, "dry-run": "true",
                                                                  "package-out": "dist/fn.zip"}, **extra),
                            env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    archive = package_of(workspace, result)
    assert archive.read("native_dep/__init__.py").decode() == f"ARCH = {machine!r}\n"


@pytest.mark.parametrize(("platform", "architecture", "fragment"), [
    ("manylinux_2_28_aarch64", "", "x86_64"),            # the function runs on x86_64 (the default)
    ("x86_64-manylinux_2_28", "arm64", "arm64"),
    ("manylinux_2_40_x86_64", "", "2.34"),               # newer than Amazon Linux 2023's glibc
    ("linux_x86_64", "", "dependencies-platform"),
    ("musllinux_1_2_x86_64", "", "dependencies-platform"),
    ("win_amd64", "", "dependencies-platform"),
])
def test_a_dependencies_platform_the_function_cannot_load_is_an_input_error(aws_action, workspace, function_name, aws_role,
                                                                             lambda_proxy, package_index, platform,
                                                                             architecture, fragment):
    write_app(workspace)
    before = len(package_index.requests)
    extra = {"architectures": architecture} if architecture else {}
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"dependencies-platform": platform}, **extra),
                            env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert fragment in result.errors[0], result.errors
    assert len(package_index.requests) == before and lambda_proxy.requests == []


# -- the same bytes on every run and runner ------------------------------------------------------


def test_the_package_is_the_same_whatever_the_cache_and_the_installer_settings(aws_action, workspace, function_name,
                                                                               aws_role, lambda_proxy, package_index, tmp_path):
    """A deploy, then redeploys from a cold cache in another RUNNER_TEMP, with the image's own
    installer settings asking for bytecode and other link modes, with pip's setting instead of
    uv's and with a workspace cache: the same code-sha256, and each redeploy is a no-op."""
    write_app(workspace, "hello-dep\ntool-dep\n")
    first = aws_action.run(aws_inputs(function_name, aws_role, **{"package-out": "dist/fn.zip"}),
                           env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(first, 0, errors=0)
    archive = package_of(workspace, first)
    names = archive.namelist()
    assert not [n for n in names if n.endswith((".pyc", "/INSTALLER", "/REQUESTED", "/direct_url.json"))
                or "__pycache__" in n or n.startswith("bin/")], names
    for record_name in [n for n in names if n.endswith(".dist-info/RECORD")]:
        rows = [line.split(",")[0] for line in archive.read(record_name).decode().splitlines()]
        assert rows == sorted(rows), record_name
        assert set(rows) <= set(names), (record_name, set(rows) - set(names))
    writes = len(lambda_proxy.writes())
    variants = [
        installer_env(package_index, UV_COMPILE_BYTECODE="1", PYTHONDONTWRITEBYTECODE=""),
        installer_env(package_index, UV_LINK_MODE="copy", UV_CONCURRENT_INSTALLS="1"),
        installer_env(package_index, UV_LINK_MODE="hardlink", UV_CACHE_DIR=str(tmp_path / "uv-cache")),
        bare_env(PIP_INDEX_URL=package_index.url, RUNNER_TEMP=str(tmp_path / "elsewhere" / "_temp")),
    ]
    for env in variants:
        again = aws_action.run(aws_inputs(function_name, aws_role), env=env, timeout=RUN_DEADLINE_S)
        assert_well_behaved(again, 0, errors=0)
        assert again.outputs["code-sha256"] == first.outputs["code-sha256"], env
        assert again.outputs["changed"] == "false", env
    cached = aws_action.run(aws_inputs(function_name, aws_role, **{"dependencies-cache": ".uv-cache"}),
                            env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(cached, 0, errors=0)
    assert cached.outputs["code-sha256"] == first.outputs["code-sha256"] and cached.outputs["changed"] == "false"
    assert len(lambda_proxy.writes()) == writes, "a redeploy with nothing changed wrote"


def test_a_symlink_link_mode_in_the_environment_gives_the_same_package(aws_action, workspace, function_name, aws_role,
                                                                       lambda_proxy, package_index):
    write_app(workspace)
    plain = aws_action.run(aws_inputs(function_name, aws_role, **{"dry-run": "true"}), env=installer_env(package_index),
                           timeout=RUN_DEADLINE_S)
    assert_well_behaved(plain, 0, errors=0)
    linked = aws_action.run(aws_inputs(function_name, aws_role, **{"dry-run": "true"}),
                            env=installer_env(package_index, UV_LINK_MODE="symlink"), timeout=RUN_DEADLINE_S)
    assert_well_behaved(linked, 0, errors=0)
    assert linked.outputs["code-sha256"] == plain.outputs["code-sha256"]


def test_the_ignore_rules_apply_to_the_source_and_not_to_the_dependencies(aws_action, workspace, function_name, aws_role,
                                                                          lambda_proxy, package_index):
    app = write_app(workspace)
    (app / "notes.md").write_text("not shipped\n")
    # Patterns that would drop every installed file, were they applied to the dependencies.
    (app / ".faasignore").write_text("*.md\n*.so\nnative_dep/\nhello_dep/\n*.dist-info/\n")
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"dry-run": "true", "package-out": "dist/fn.zip"}),
                            env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    names = set(package_of(workspace, result).namelist())
    assert "notes.md" not in names and ".faasignore" not in names
    assert {"native_dep/_speedups.abi3.so", "hello_dep/__init__.py", "native_dep-2.0.dist-info/METADATA",
            "hello_dep-1.0.dist-info/RECORD", "app.py"} <= names


# -- the size limits count the dependencies ------------------------------------------------------------


def test_the_unzipped_limit_counts_the_dependencies_and_names_the_biggest(aws_action, workspace, function_name, aws_role,
                                                                         lambda_proxy, package_index, extra_wheels):
    extra_wheels("qa-huge-dep", "1.0", files={"qa_huge_dep/zeros.bin": bytes(251 * 1024 * 1024)})
    write_app(workspace, "qa-huge-dep\nhello-dep\n")
    result = aws_action.run(aws_inputs(function_name, aws_role), env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "250 MB" in result.errors[0] and "qa-huge-dep 1.0" in result.errors[0], result.errors
    assert lambda_proxy.requests == []


# -- the standard index settings, and their credentials ----------------------------------------------


def assert_index_password_never_shown(result, workspace: Path | None = None) -> None:
    assert_secret_never_shown(result, INDEX_PASSWORD)
    if workspace is not None and (workspace / "dist" / "fn.zip").exists():
        assert INDEX_PASSWORD.encode() not in (workspace / "dist" / "fn.zip").read_bytes()


def test_pip_index_url_alone_is_honoured_and_its_password_never_shown(aws_action, workspace, function_name, aws_role,
                                                                     lambda_proxy, package_index):
    write_app(workspace)
    before = len(package_index.requests)
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"package-out": "dist/fn.zip"}),
                            env=bare_env(PIP_INDEX_URL=package_index.url), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert len(package_index.requests) > before
    assert "native_dep/__init__.py" in package_of(workspace, result).namelist()
    assert f"::add-mask::{INDEX_PASSWORD}" in result.stdout.splitlines()
    first_other = next(line for line in result.stdout.splitlines() if not line.startswith("::add-mask::"))
    assert result.stdout.index(f"::add-mask::{INDEX_PASSWORD}") < result.stdout.index(first_other)
    assert_index_password_never_shown(result, workspace)


@pytest.mark.parametrize("setting", ["UV_EXTRA_INDEX_URL", "PIP_EXTRA_INDEX_URL"])
def test_an_extra_index_with_credentials_is_honoured_and_masked(aws_action, workspace, function_name, aws_role,
                                                               lambda_proxy, package_index, tmp_path, setting):
    empty = PackageIndex(tmp_path / "empty-index").start()
    (tmp_path / "empty-index").mkdir(exist_ok=True)
    try:
        write_app(workspace)
        default = "UV_INDEX_URL" if setting.startswith("UV_") else "PIP_INDEX_URL"
        result = aws_action.run(aws_inputs(function_name, aws_role, **{"dry-run": "true"}),
                                env=bare_env(**{default: empty.url, setting: package_index.url}), timeout=RUN_DEADLINE_S)
    finally:
        empty.stop()
    assert_well_behaved(result, 0, errors=0)
    assert_index_password_never_shown(result)


@pytest.mark.parametrize("form", ["PIP", "UV"])
def test_find_links_to_a_directory_without_an_index(aws_action, workspace, function_name, aws_role, lambda_proxy,
                                                    package_index, form):
    write_app(workspace)
    before = len(package_index.requests)
    env = (bare_env(PIP_FIND_LINKS=str(package_index.directory), PIP_NO_INDEX="1") if form == "PIP"
           else bare_env(UV_FIND_LINKS=str(package_index.directory), UV_NO_INDEX="1"))
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"dry-run": "true"}), env=env, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    (plan,) = json.loads(result.outputs["plan"])
    assert [d["name"] for d in plan["package"]["dependencies"]] == ["hello-dep", "native-dep"]
    assert len(package_index.requests) == before, "the index was asked although PIP/UV_NO_INDEX was set"


def test_find_links_credentials_are_masked(aws_action, workspace, function_name, aws_role, lambda_proxy, package_index):
    """A find-links URL with a token, beside a local directory: the token is masked before
    anything is printed, whatever uv makes of the URL."""
    write_app(workspace)
    token = "qa-findlinks-t0ken-42"
    env = installer_env(package_index, UV_FIND_LINKS=f"http://bot:{token}@{package_index.host}/simple/hello-dep/")
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"dry-run": "true"}), env=env, timeout=RUN_DEADLINE_S)
    assert result.code in (0, 1) and "Traceback" not in result.stdout + result.stderr
    assert_secret_never_shown(result, token)
    assert_index_password_never_shown(result)


def test_a_wrong_index_password_fails_clearly_without_showing_it(aws_action, workspace, function_name, aws_role,
                                                                 lambda_proxy, package_index):
    write_app(workspace)
    wrong = "wr0ng-qa-passw0rd"
    url = package_index.url.replace(INDEX_PASSWORD, wrong)
    result = aws_action.run(aws_inputs(function_name, aws_role), env=bare_env(UV_INDEX_URL=url), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert_secret_never_shown(result, wrong)
    assert lambda_proxy.requests == []


def test_credentials_in_the_requirements_file_are_masked(aws_action, workspace, function_name, aws_role, lambda_proxy,
                                                         package_index):
    write_app(workspace, f"--index-url {package_index.url}\nhello-dep==1.0\n")
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"dry-run": "true"}), env=bare_env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert_index_password_never_shown(result)


def test_a_variable_the_requirements_file_expands_is_masked(aws_action, workspace, function_name, aws_role, lambda_proxy,
                                                            package_index):
    url = package_index.url.replace(INDEX_PASSWORD, "${QA_INDEX_TOKEN}")
    write_app(workspace, f"--index-url {url}\nhello-dep==1.0\n")
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"dry-run": "true"}),
                            env=bare_env(QA_INDEX_TOKEN=INDEX_PASSWORD), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert_index_password_never_shown(result)


# -- an index that does not answer ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["refused", "blackhole"])
def test_an_unreachable_index_is_one_error_within_wait_timeout(aws_action, workspace, function_name, aws_role, lambda_proxy,
                                                               kind):
    write_app(workspace)
    if kind == "refused":
        url = closed_port_url()
        result = aws_action.run(aws_inputs(function_name, aws_role, **{"wait-timeout": "5"}),
                                env=bare_env(UV_INDEX_URL=f"{url}/simple"), timeout=RUN_DEADLINE_S)
    else:
        with Blackhole() as hole:
            result = aws_action.run(aws_inputs(function_name, aws_role, **{"wait-timeout": "3"}),
                                    env=bare_env(UV_INDEX_URL=f"{hole.url}/simple"), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "hello-dep" in result.errors[0] or "within" in result.errors[0], result.errors
    assert lambda_proxy.requests == []


def test_a_wrong_hash_in_the_requirements_file_fails_before_any_cloud_call(aws_action, workspace, function_name, aws_role,
                                                                          lambda_proxy, package_index):
    wheel = next(p for p in package_index.files() if p.name.startswith("tool_dep-"))
    good = hashlib.sha256(wheel.read_bytes()).hexdigest()
    write_app(workspace, f"tool-dep==0.5 --hash=sha256:{good}\n")
    ok = aws_action.run(aws_inputs(function_name, aws_role, **{"dry-run": "true"}), env=installer_env(package_index),
                        timeout=RUN_DEADLINE_S)
    assert_well_behaved(ok, 0, errors=0)
    write_app(workspace, f"tool-dep==0.5 --hash=sha256:{'0' * 64}\n")
    requests = len(lambda_proxy.requests)
    bad = aws_action.run(aws_inputs(function_name, aws_role), env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(bad, 1, errors=1)
    assert "hash" in bad.errors[0].lower()
    assert len(lambda_proxy.requests) == requests


# -- the cache's place ------------------------------------------------------------------------------


def test_a_cache_inside_the_source_is_never_packaged(aws_action, workspace, function_name, aws_role, lambda_proxy,
                                                     package_index):
    write_app(workspace)
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"dependencies-cache": "app/.uv-cache", "dry-run": "true",
                                                                  "package-out": "dist/fn.zip"}),
                            env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert (workspace / "app" / ".uv-cache").is_dir()
    assert not [n for n in package_of(workspace, result).namelist() if n.startswith(".uv-cache")]


@pytest.mark.parametrize("cache", ["../outside-cache", "/tmp/qa-abs-cache", "app", ".", "app/requirements.txt"])
def test_a_cache_outside_the_workspace_or_over_the_source_is_an_input_error(aws_action, workspace, function_name, aws_role,
                                                                            lambda_proxy, package_index, cache):
    write_app(workspace)
    before = len(package_index.requests)
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"dependencies-cache": cache}),
                            env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "dependencies-cache" in result.errors[0], result.errors
    assert len(package_index.requests) == before and lambda_proxy.requests == []


# -- input errors, before any index request -------------------------------------------------------------


def test_dependencies_for_a_gcp_function_of_a_mixed_config_is_one_input_error(aws_action, workspace, aws_role,
                                                                               lambda_proxy, package_index):
    write_app(workspace)
    (workspace / "app" / "main.py").write_text("def hello(request):\n    return 'hi'\n")
    (workspace / "faas.yml").write_text(
        "source: app\nfunctions:\n"
        f"  - provider: aws\n    function-name: qa15-aws\n    runtime: python3.12\n    handler: app.handler\n"
        f"    role: {aws_role}\n    dependencies: requirements.txt\n"
        "  - provider: gcp\n    function-name: qa15-gcp\n    region: us-central1\n    project: proj-1\n"
        "    runtime: python312\n    dependencies: requirements.txt\n"
    )
    before = len(package_index.requests)
    result = aws_action.run({"config": "faas.yml", "gcp-access-token": "ya29.qa15-token-0123456789"},
                            env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "functions[1]" in result.errors[0] and "Cloud Build" in result.errors[0], result.errors
    assert len(package_index.requests) == before and lambda_proxy.requests == []


@pytest.mark.parametrize(("inputs", "fragment"), [
    ({"dependencies": "requirements.txt"}, "runtime"),                                       # no Python version
    ({"dependencies": "requirements.txt", "runtime": "python3.11", "remote-build": "true"}, "remote-build"),
    ({"dependencies": "requirements.txt", "runtime": "python3.11",
      "dependencies-platform": "manylinux_2_28_aarch64"}, "dependencies-platform"),          # Azure is Linux x86_64
    ({"dependencies": "requirements.txt", "runtime": "node20"}, "node20"),
    ({"dependencies-platform": "manylinux_2_28_x86_64"}, "dependencies-platform"),            # without dependencies
    ({"dependencies": "missing.txt", "runtime": "python3.11"}, "missing.txt"),
])
def test_azure_dependency_input_errors_come_before_any_request(action, workspace, package_index, inputs, fragment):
    (workspace / "host.json").write_text('{"version": "2.0"}')
    (workspace / "function_app.py").write_text("import azure.functions as func\napp = func.FunctionApp()\n")
    (workspace / "requirements.txt").write_text("hello-dep\n")
    before = len(package_index.requests)
    with FakeAzure() as azure:
        azure.add_site("app", sku="FlexConsumption")
        result = action.run({"provider": "azure", "function-name": "app", "resource-group": RESOURCE_GROUP,
                             "subscription-id": SUBSCRIPTION, "azure-access-token": AZURE_TOKEN, **inputs},
                            env={**azure.env(), **installer_env(package_index)}, timeout=RUN_DEADLINE_S)
        assert azure.requests == []
    assert_well_behaved(result, 1, errors=1)
    assert fragment in result.errors[0], result.errors
    assert len(package_index.requests) == before


def test_remote_build_is_not_an_aws_input(aws_action, workspace, function_name, aws_role, lambda_proxy, package_index):
    write_app(workspace)
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"remote-build": "true"}), env=installer_env(package_index),
                            timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "remote-build" in result.errors[0]
    assert lambda_proxy.requests == []


# -- what the plan and the summary say on Azure ---------------------------------------------------------


def test_an_azure_deploy_lists_the_dependencies_and_the_size_split(action, workspace, package_index):
    (workspace / "host.json").write_text('{"version": "2.0"}')
    (workspace / "function_app.py").write_text("import azure.functions as func\napp = func.FunctionApp()\n")
    (workspace / "requirements.txt").write_text("hello-dep==1.0\n")
    with FakeAzure() as azure:
        azure.add_site("app", sku="FlexConsumption")
        result = action.run({"provider": "azure", "function-name": "app", "resource-group": RESOURCE_GROUP,
                             "subscription-id": SUBSCRIPTION, "azure-access-token": AZURE_TOKEN, "runtime": "python3.12",
                             "dependencies": "requirements.txt", "wait-timeout": "30"},
                            env={**azure.env(), **installer_env(package_index)}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    (plan,) = json.loads(result.outputs["plan"])
    package = plan["package"]
    assert [(d["name"], d["version"]) for d in package["dependencies"]] == [("hello-dep", "1.0"), ("native-dep", "2.0")]
    assert package["dependencies-target"] == {"python": "3.12", "platform": "x86_64-manylinux_2_28"}
    assert package["source-size"] + package["dependencies-size"] == package["unzipped-size"]
    assert "| hello-dep | 1.0 |" in result.summary and "| native-dep | 2.0 |" in result.summary
    assert "dependencies" in result.summary and "source +" in result.summary
    assert_index_password_never_shown(result)


def test_a_percent_encoded_index_password_is_masked_in_both_forms(aws_action, workspace, function_name, aws_role,
                                                                  lambda_proxy, package_index, tmp_path):
    from urllib.parse import quote

    password = "qa15/p@ss:w0rd%"
    index = PackageIndex(package_index.directory, "deploy-bot", password).start()
    try:
        write_app(workspace)
        url = f"http://deploy-bot:{quote(password, safe='')}@{index.host}/simple"
        result = aws_action.run(aws_inputs(function_name, aws_role, **{"dry-run": "true"}), env=bare_env(PIP_INDEX_URL=url),
                                timeout=RUN_DEADLINE_S)
        asked = list(index.requests)
    finally:
        index.stop()
    assert_well_behaved(result, 0, errors=0)
    assert asked, "the index named by PIP_INDEX_URL was not asked"
    assert_secret_never_shown(result, password)
    assert_secret_never_shown(result, quote(password, safe=""))


def test_a_locked_pyproject_installs_the_lock_end_to_end(aws_action, workspace, function_name, aws_role, lambda_proxy,
                                                         package_index, extra_wheels, tmp_path):
    """`dependencies: pyproject.toml` with a uv.lock beside it installs what the lock pins (not a
    newer release on the index), without the dev group and without the project itself."""
    import subprocess

    import uv

    app = write_app(workspace)
    (app / "requirements.txt").unlink()
    (app / "pyproject.toml").write_text(
        '[project]\nname = "qa-fn"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = ["hello-dep"]\n'
        '[dependency-groups]\ndev = ["tool-dep"]\n'
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **installer_env(package_index)}
    lock = subprocess.run([uv.find_uv_bin(), "lock", "--cache-dir", str(tmp_path / "lock-cache")], cwd=app, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert lock.returncode == 0, lock.stderr
    extra_wheels("native-dep", "2.5", tag="cp39-abi3-manylinux_2_17_x86_64")  # newer than the lock's 2.0
    result = aws_action.run(aws_inputs(function_name, aws_role, dependencies="pyproject.toml",
                                       **{"dry-run": "true", "package-out": "dist/fn.zip"}),
                            env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    (plan,) = json.loads(result.outputs["plan"])
    assert [(d["name"], d["version"]) for d in plan["package"]["dependencies"]] == [("hello-dep", "1.0"), ("native-dep", "2.0")]
    names = package_of(workspace, result).namelist()
    assert not [n for n in names if n.startswith(("tool_dep", "qa_fn"))], names
    assert_index_password_never_shown(result)
