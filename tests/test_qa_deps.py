"""QA sweep of issue 15's dependency files, run as the runner runs the action (entrypoint.py in a
subprocess, a private package index on 127.0.0.1): what a requirements file reveals is reported
before any index request, all at once, one ::error each; nothing in it can hang the run; the
credentials of a file it includes are masked."""

from __future__ import annotations

import os
import time

import pytest

from tests.fakes.package_index import INDEX_PASSWORD, installer_env, package_index  # noqa: F401 (fixture)
from tests.qa_checks import assert_secret_never_shown, assert_well_behaved
from tests.test_qa_issue15 import aws_inputs, bare_env, write_app

pytestmark = pytest.mark.timeout(180)

RUN_DEADLINE_S = 90


def test_everything_a_requirements_file_cannot_install_is_reported_at_once_before_the_index(
        aws_action, workspace, function_name, aws_role, lambda_proxy, package_index):
    """An editable install, a VCS requirement, a source archive's URL, a local project, a path and
    an include leaving the workspace, and an include that is a FIFO (uv would block reading it
    until wait-timeout): one ::error each, at once, no index request, no wait."""
    app = write_app(workspace, "\n".join([
        "hello-dep==1.0",
        "-e .",
        "qa-vcs @ git+https://github.com/octo/qa-vcs@main",
        "https://files.example.invalid/qa_sdist-1.0.tar.gz",
        "../lib",
        "/etc/qa-outside.whl",
        "-r ../../outside.txt",
        "-r fifo.txt",
    ]) + "\n")
    (workspace / "lib").mkdir()
    (workspace / "lib" / "setup.py").write_text("from setuptools import setup\nsetup(name='lib')\n")
    os.mkfifo(app / "fifo.txt")
    before = len(package_index.requests)
    started = time.monotonic()
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"wait-timeout": "60"}), env=installer_env(package_index),
                            timeout=RUN_DEADLINE_S)
    assert time.monotonic() - started < 30
    assert_well_behaved(result, 1, errors=7)
    for line, fragment in zip(range(2, 9), ["editable", "VCS", "not a wheel", "built from source", "outside the workspace",
                                           "outside the workspace", "FIFO"]):
        assert any(f"line {line}:" in e and fragment in e for e in result.errors), (line, fragment, result.errors)
    assert len(package_index.requests) == before and lambda_proxy.requests == []


@pytest.mark.parametrize(("content", "fragment"), [
    (b"hello-dep\n# caf\xe9\n", "UTF-8"),
    (b"hello-dep\n" + b"#" * (5 << 20) + b"\n", "larger than"),
])
def test_a_requirements_file_that_is_not_small_utf8_text_is_an_input_error(aws_action, workspace, function_name, aws_role,
                                                                          lambda_proxy, package_index, content, fragment):
    app = write_app(workspace)
    (app / "requirements.txt").write_bytes(content)
    before = len(package_index.requests)
    result = aws_action.run(aws_inputs(function_name, aws_role), env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "requirements.txt" in result.errors[0] and fragment in result.errors[0], result.errors
    assert len(package_index.requests) == before and lambda_proxy.requests == []


def test_an_include_in_the_workspace_a_wheel_url_markers_and_extras_still_install(aws_action, workspace, function_name,
                                                                                 aws_role, lambda_proxy, package_index):
    """What stays allowed: `-r`/`-c` files beside the source in the workspace, a wheel's URL,
    environment markers, extras. The included file's index credentials are masked."""
    app = write_app(workspace, "-r ../common/requirements.txt\n-c constraints.txt\n"
                               'tool-dep; python_version >= "3.12"\nqa-never; sys_platform == "win32"\n')
    (workspace / "common").mkdir()
    (workspace / "common" / "requirements.txt").write_text(f"--index-url {package_index.url}\nhello-dep[fast]\n")
    (app / "constraints.txt").write_text("hello-dep==1.0\n")
    result = aws_action.run(aws_inputs(function_name, aws_role, **{"dry-run": "true"}), env=bare_env(),
                            timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert f"::add-mask::{INDEX_PASSWORD}" in result.stdout.splitlines()
    assert_secret_never_shown(result, INDEX_PASSWORD)


LOCK = """version = 1
revision = 2
requires-python = ">=3.11"

[[package]]
name = "hello-dep"
version = "1.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "qa-fn"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "hello-dep" },
]

[package.metadata]
requires-dist = [{ name = "hello-dep" }]
"""


@pytest.mark.parametrize(("project", "fragment"), [
    ('name = "qa-fn"\nversion = "0.1.0"\ndependencies = ["hello-dep", "tool-dep"]', "tool-dep"),  # added, not locked
    ('name = "qa-fn"\nversion = "0.1.0"\ndependencies = []', "hello-dep"),                         # removed, still locked
    ('name = "qa-other"\nversion = "0.1.0"\ndependencies = ["hello-dep"]', "qa-other"),            # another project's lock
])
def test_a_uv_lock_that_does_not_match_the_pyproject_is_an_input_error(aws_action, workspace, function_name, aws_role,
                                                                       lambda_proxy, package_index, project, fragment):
    """uv exports a stale lock as it is (`--frozen`): the function would deploy without the
    dependency just added. Reported before any index request, naming what differs."""
    app = write_app(workspace)
    (app / "requirements.txt").unlink()
    (app / "pyproject.toml").write_text(f'[project]\n{project}\nrequires-python = ">=3.11"\n')
    (app / "uv.lock").write_text(LOCK)
    before = len(package_index.requests)
    result = aws_action.run(aws_inputs(function_name, aws_role, dependencies="pyproject.toml"),
                            env=installer_env(package_index), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "uv.lock" in result.errors[0] and fragment in result.errors[0] and "uv lock" in result.errors[0], result.errors
    assert len(package_index.requests) == before and lambda_proxy.requests == []


def test_a_password_with_an_unencoded_at_sign_is_masked_whole():
    """`https://user:p@ss@host`: URL parsers (uv's too) take the last @ as the end of the user
    information, so the whole `p@ss…` is the password, never its tail shown."""
    from faas_action import dependencies

    url = "https://user:p@ss-w0rd@pypi.example.com/simple"
    hidden = dependencies.secrets({"UV_INDEX_URL": url})
    assert "p@ss-w0rd" in hidden
    assert "ss-w0rd" not in dependencies.redact(f"failed to fetch {url}", hidden)


def test_a_token_in_an_index_urls_query_is_masked():
    """`https://host/simple?token=…` (some private registries and signed mirror URLs take the
    credential in the query): the value is registered for masking and redacted from uv's output."""
    from faas_action import dependencies

    url = "https://pypi.example.invalid/simple?project=x&token=q-s3cret-value&X-Amz-Signature=abcdef123"
    hidden = dependencies.secrets({"UV_EXTRA_INDEX_URL": url})
    assert "q-s3cret-value" in hidden and "abcdef123" in hidden and "x" not in hidden
    text = dependencies.redact(f"error: failed to fetch {url}", [])
    assert "q-s3cret-value" not in text and "abcdef123" not in text and "project=x" in text
