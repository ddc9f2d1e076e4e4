"""QA scenarios for issue 10 ("Never crash, never hang, never leak"), written from the issue's
text and run as the runner runs the action (entrypoint.py in a subprocess, every declared input
exported): moto behind the Lambda proxy, the fake ARM/Kudu server, the fake Cloud Functions API
with gcp-storage-emulator, and servers that answer with a cloud's error contract.

Each item of the issue is tried on each provider where it applies, preferring what the existing
tests (test_hostile_*, test_*_faults, test_faults_e2e, test_environment_checks) do not cover.
Each test quotes or names the issue's item it checks.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.request import Request, urlopen

import pytest

from tests.conftest import AWS_TEST_ENV, boto_client
from tests.fakes.azure_fake import RESOURCE_GROUP, SUBSCRIPTION, TOKEN as AZURE_TOKEN, FakeAzure, FakeIdentity
from tests.fakes.gcp_fake import gcp_fake  # noqa: F401 (fixture)
from tests.fakes.network import closed_port_url
from tests.fakes.package_index import installer_env, package_index  # noqa: F401 (fixture)
from tests.qa_checks import (
    INJECTED,
    INJECTION,
    ErrorServer,
    assert_secret_never_shown,
    assert_well_behaved,
    corrupt_central_directory,
    results_of,
    write_python_app,
    zip_bytes,
)

pytestmark = pytest.mark.timeout(180)

RUN_DEADLINE_S = 60  # every run's own deadline (the harness kills it after that)
GCP_TOKEN = "ya29.qa-issue10-token-0123456789"
GCP_PROJECT, GCP_REGION = "proj-1", "us-central1"
GCP_NAME = f"projects/{GCP_PROJECT}/locations/{GCP_REGION}/functions/hello"


def aws_inputs(name: str = "fn-qa10", **extra: str) -> dict[str, str]:
    return {"provider": "aws", "function-name": name, "source": "app", "runtime": "python3.12",
            "handler": "app.handler", "role": "arn:aws:iam::123456789012:role/r", "wait-timeout": "3", **extra}


def azure_inputs(**extra: str) -> dict[str, str]:
    return {"provider": "azure", "function-name": "app", "resource-group": RESOURCE_GROUP, "subscription-id": SUBSCRIPTION,
            "azure-access-token": AZURE_TOKEN, "source": "app", "wait-timeout": "3", **extra}


def gcp_inputs(**extra: str) -> dict[str, str]:
    return {"provider": "gcp", "function-name": "hello", "region": GCP_REGION, "project": GCP_PROJECT, "runtime": "python312",
            "entry-point": "hello", "gcp-access-token": GCP_TOKEN, "source": "app", "wait-timeout": "3", **extra}


INPUTS = {"aws": aws_inputs, "azure": azure_inputs, "gcp": gcp_inputs}


class Nowhere:
    """Every cloud endpoint pointed at a port where nothing listens (the run must not need it)."""

    def __init__(self) -> None:
        self.url = closed_port_url()

    def env(self) -> dict[str, str]:
        return {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": self.url, "FAAS_AZURE_ARM_ENDPOINT": self.url + "/arm",
                "FAAS_AZURE_SCM_ENDPOINT": self.url + "/kudu", "FAAS_GCP_ENDPOINT": self.url, "NO_GCE_CHECK": "true"}


@pytest.fixture
def azure_fake():
    with FakeAzure() as fake:
        yield fake


def app_workspace(workspace: Path) -> Path:
    write_python_app(workspace / "app")
    (workspace / "app" / "host.json").write_text('{"version": "2.0"}')
    return workspace


# -- 1. network errors that outlast the retries: exit 1 within wait-timeout, on every provider ----


def test_one_run_with_every_provider_unreachable_fails_each_function_within_wait_timeout(action, workspace):
    """A config with one function per cloud, every endpoint refusing connections, wait-timeout 3:
    each function fails with its own ::error naming it, the run exits 1, no traceback."""
    app_workspace(workspace)
    (workspace / "faas.yml").write_text(
        "source: app\nwait-timeout: 3\nfunctions:\n"
        "  - provider: aws\n    function-name: qa-aws\n    runtime: python3.12\n    handler: app.handler\n"
        "  - provider: azure\n    function-name: qa-azure\n"
        f"    resource-group: {RESOURCE_GROUP}\n    subscription-id: {SUBSCRIPTION}\n"
        f"  - provider: gcp\n    function-name: qa-gcp\n    region: {GCP_REGION}\n    project: {GCP_PROJECT}\n"
        "    runtime: python312\n"
    )
    nowhere = Nowhere()
    result = action.run({"config": "faas.yml", "azure-access-token": AZURE_TOKEN, "gcp-access-token": GCP_TOKEN},
                        env=nowhere.env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=3)
    for name in ("qa-aws", "qa-azure", "qa-gcp"):
        assert [e for e in result.errors if name in e], (name, result.errors)
    assert all(nowhere.url.split("//")[1] in e for e in result.errors), result.errors
    assert [r["status"] for r in results_of(result)] == ["failed", "failed", "failed"]


def test_aws_server_errors_without_end_stop_at_wait_timeout(aws_action, workspace, lambda_proxy):
    write_python_app(workspace / "app")
    lambda_proxy.fail("GET", r"/functions/", 500, "ServiceException", "Internal failure", times=100_000)
    result = aws_action.run(aws_inputs(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "ServiceException" in result.errors[0] and "3 s" in result.errors[0], result.errors


def test_gcp_unavailable_without_end_stops_at_wait_timeout(action, workspace, gcp_fake):
    write_python_app(workspace / "app")
    gcp_fake.unavailable = 100_000
    result = action.run(gcp_inputs(), env={"FAAS_GCP_ENDPOINT": gcp_fake.url, "NO_GCE_CHECK": "true"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert gcp_fake.writes() == [], "nothing was written while the API answered 503"


def test_azure_arm_unavailable_without_end_stops_at_wait_timeout(action, workspace, azure_fake):
    app_workspace(workspace)
    azure_fake.add_site("app", sku="FlexConsumption")
    azure_fake.arm_failures = [503] * 100_000
    result = action.run(azure_inputs(), env=azure_fake.env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert azure_fake.writes() == []


def test_azure_kudu_refused_with_arm_reachable(action, workspace, azure_fake):
    """ARM answers, the SCM (Kudu) endpoint refuses connections: exit 1 naming it."""
    app_workspace(workspace)
    azure_fake.add_site("app", sku="FlexConsumption")
    refused = closed_port_url()
    result = action.run(azure_inputs(), env={**azure_fake.env(), "FAAS_AZURE_SCM_ENDPOINT": refused}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert refused.split("//")[1] in result.errors[0], result.errors


# -- 2. a prebuilt package whose central directory is corrupt ---------------------------------------


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_a_corrupt_central_directory_is_one_input_error(action, workspace, provider):
    app_workspace(workspace)
    (workspace / "bad.zip").write_bytes(corrupt_central_directory(zip_bytes({"app.py": "x = 1\n" * 50, "host.json": "{}"})))
    inputs = {k: v for k, v in INPUTS[provider](package="bad.zip").items() if k != "source"}
    result = action.run(inputs, env=Nowhere().env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "bad.zip" in result.errors[0]


# -- 3. a source file whose name is not valid UTF-8 ---------------------------------------------------


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_a_file_name_that_is_not_utf8_is_an_input_error_shown_escaped(action, workspace, provider):
    app_workspace(workspace)
    with open(os.path.join(os.fsencode(workspace / "app"), b"caf\xe9.py"), "wb") as handle:
        handle.write(b"x = 1\n")
    result = action.run(INPUTS[provider](), env=Nowhere().env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "caf" in result.errors[0] and ("\\xe9" in result.errors[0] or "\\udce9" in result.errors[0]), result.errors


# -- 4. config and mapping inputs that are not UTF-8 or nest too deep --------------------------------


@pytest.mark.parametrize(("provider", "name"), [("aws", "tags"), ("gcp", "labels"), ("aws", "environment"),
                                                ("azure", "environment"), ("gcp", "build-environment")])
def test_a_mapping_input_nested_deeper_than_any_config_is_an_input_error(action, workspace, provider, name):
    app_workspace(workspace)
    deep = "a: " + "[" * 3000 + "]" * 3000
    result = action.run(INPUTS[provider](**{name: deep}), env=Nowhere().env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert name in result.errors[0]


@pytest.mark.parametrize("provider", ["azure", "gcp"])
def test_a_latin1_config_file_is_one_input_error(action, workspace, provider):
    app_workspace(workspace)
    (workspace / "faas.yml").write_bytes("description: caf\u00e9\n".encode("latin-1") if provider == "gcp"
                                         else "environment:\n  NAME: caf\u00e9\n".encode("latin-1"))
    result = action.run({**INPUTS[provider](), "config": "faas.yml"}, env=Nowhere().env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "faas.yml" in result.errors[0] and "UTF-8" in result.errors[0], result.errors


# -- 6. RUNNER_TEMP not mounted into the container -------------------------------------------------


def test_an_unmounted_runner_temp_does_not_break_a_gcp_deploy(action, workspace, gcp_fake, tmp_path):
    write_python_app(workspace / "app")
    gcp_fake.require_token = GCP_TOKEN
    env = {"FAAS_GCP_ENDPOINT": gcp_fake.url, "NO_GCE_CHECK": "true", "RUNNER_TEMP": str(tmp_path / "host" / "_temp")}
    result = action.run(gcp_inputs(), env=env, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert result.outputs["changed"] == "true" and GCP_NAME in gcp_fake.functions
    assert not (tmp_path / "host").exists()


def test_an_unmounted_runner_temp_does_not_break_installing_dependencies(aws_action, workspace, package_index, tmp_path,
                                                                        function_name, aws_role):
    """The dependencies' cache and install directory default to RUNNER_TEMP (issue 15): an
    unmounted one falls back to the container's temporary directory as packaging does."""
    write_python_app(workspace / "app")
    (workspace / "app" / "requirements.txt").write_text("hello-dep==1.0\n")
    inputs = aws_inputs(function_name, role=aws_role, dependencies="requirements.txt", **{"dry-run": "true"})
    env = {**installer_env(package_index), "RUNNER_TEMP": str(tmp_path / "host" / "_temp")}
    result = aws_action.run(inputs, env=env, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert result.outputs["package-size"]
    assert not (tmp_path / "host").exists()


# -- 7. a config path that is a FIFO or any non-regular file ----------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "fifo-through-symlink", "directory", "socket"])
@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_a_config_that_is_not_a_regular_file_is_refused_without_blocking(action, workspace, provider, kind):
    import socket

    app_workspace(workspace)
    path = workspace / "faas.yml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "fifo-through-symlink":
        os.mkfifo(workspace / "pipe")
        path.symlink_to(workspace / "pipe")
    elif kind == "directory":
        path.mkdir()
    else:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
    result = action.run({**INPUTS[provider](), "config": "faas.yml"}, env=Nowhere().env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "faas.yml" in result.errors[0]


# -- 8. a YAML "billion laughs" ----------------------------------------------------------------------

LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
)


@pytest.mark.parametrize(("provider", "where"), [("aws", "environment"), ("azure", "environment"), ("gcp", "labels"),
                                                 ("gcp", "build-environment")])
def test_a_billion_laughs_in_a_mapping_input_prints_nothing_big(action, workspace, provider, where):
    app_workspace(workspace)
    value = LAUGHS + "\nX: *i\n"
    result = action.run(INPUTS[provider](**{where: value}), env=Nowhere().env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert where in result.errors[0]
    assert len(result.stdout) < 16_384, f"{len(result.stdout)} bytes of output"
    assert not [ln for ln in result.stdout.splitlines() if ln.startswith("::add-mask::") and len(ln) > 1024]


# -- 9. the GitHub OIDC token request: a timeout and retries -----------------------------------------


class FlakyTokenFront:
    """In front of the runner's OIDC endpoint: the first `failures` requests get 503, the rest
    are forwarded."""

    def __init__(self, upstream: str, failures: int) -> None:
        self.requests = 0
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                front.requests += 1
                if front.requests <= failures:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                base = upstream.split("/", 3)
                target = f"{base[0]}//{base[2]}{self.path}"
                with urlopen(Request(target, headers={"Authorization": self.headers["Authorization"]}), timeout=10) as reply:
                    data = reply.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.port = self.httpd.server_address[1]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_the_oidc_token_request_is_retried_after_503s(action, workspace, azure_fake, tmp_path):
    app_workspace(workspace)
    azure_fake.add_site("app", sku="FlexConsumption")
    with FakeIdentity(tmp_path) as identity:
        env = {**azure_fake.env(), **identity.env()}
        upstream = env["ACTIONS_ID_TOKEN_REQUEST_URL"]
        front = FlakyTokenFront(upstream, failures=2)
        try:
            path = "/" + upstream.split("/", 3)[3]
            env["ACTIONS_ID_TOKEN_REQUEST_URL"] = f"http://127.0.0.1:{front.port}{path}"
            inputs = {k: v for k, v in azure_inputs().items() if k != "azure-access-token"}
            inputs.update({"client-id": "11111111-2222-3333-4444-555555555555", "tenant-id": "contoso.onmicrosoft.com"})
            result = action.run(inputs, env=env, timeout=RUN_DEADLINE_S)
        finally:
            front.close()
    assert_well_behaved(result, 0, errors=0)
    assert front.requests == 3


def test_the_oidc_token_request_gives_up_after_bounded_attempts(action, workspace, azure_fake):
    app_workspace(workspace)
    azure_fake.add_site("app", sku="FlexConsumption")
    with ErrorServer(503, {}) as token_server:
        env = {**azure_fake.env(), "ACTIONS_ID_TOKEN_REQUEST_URL": f"{token_server.url}/token?api-version=2.0",
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "qa-request-token-abcdef"}
        inputs = {k: v for k, v in azure_inputs().items() if k != "azure-access-token"}
        inputs.update({"client-id": "11111111-2222-3333-4444-555555555555", "tenant-id": "contoso.onmicrosoft.com"})
        result = action.run(inputs, env=env, timeout=RUN_DEADLINE_S)
        attempts = len(token_server.requests)
    assert_well_behaved(result, 1, errors=1)
    assert 2 <= attempts <= 10, attempts
    assert "OIDC" in result.errors[0]
    assert_secret_never_shown(result, "qa-request-token-abcdef")
    assert azure_fake.writes() == []


# -- 10, 11. a lost CreateFunction reply; CreateAlias during an update, end to end -------------------


def test_a_create_whose_reply_was_lost_carries_on_end_to_end(aws_action, workspace, lambda_proxy, function_name, aws_role):
    write_python_app(workspace / "app")
    lambda_proxy.reset_after("POST", r"/2015-03-31/functions$")
    result = aws_action.run(aws_inputs(function_name, role=aws_role, alias="live", **{"wait-timeout": "30"}),
                            timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert result.outputs["version"] == "1" and result.outputs["changed"] == "true"
    moto = boto_client("lambda", lambda_proxy.url)
    alias = moto.get_alias(FunctionName=function_name, Name="live")
    assert alias["FunctionVersion"] == "1"
    served = moto.get_function(FunctionName=function_name, Qualifier="1")["Configuration"]["CodeSha256"]
    assert served == result.outputs["code-sha256"]


def test_create_alias_during_an_update_is_retried_end_to_end(aws_action, workspace, lambda_proxy, function_name, aws_role):
    write_python_app(workspace / "app")
    in_progress = "The operation cannot be performed at this time. An update is in progress for resource: arn"
    lambda_proxy.fail("POST", rf"/functions/{function_name}/aliases$", 409, "ResourceConflictException", in_progress, times=2)
    result = aws_action.run(aws_inputs(function_name, role=aws_role, alias="live", **{"wait-timeout": "30"}),
                            timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert not lambda_proxy.calls("PUT", rf"/functions/{function_name}/aliases/live$"), "no alias existed to update"
    alias = boto_client("lambda", lambda_proxy.url).get_alias(FunctionName=function_name, Name="live")
    assert alias["FunctionVersion"] == result.outputs["version"] == "1"


# -- 12. hostile prebuilt packages --------------------------------------------------------------------

HOSTILE_ZIPS = {
    "dot-dot": {"../x": "x", "app.py": "x = 1\n", "host.json": "{}"},
    "absolute": {"/etc/x": "x", "app.py": "x = 1\n", "host.json": "{}"},
    "nested-dot-dot": {"lib/../../x": "x", "app.py": "x = 1\n", "host.json": "{}"},
    "empty": {},
}


# An empty zip on Azure is already refused (it holds no host.json): that case passes.
HOSTILE_ZIP_CASES = [
    pytest.param(provider, kind, id=f"{provider}-{kind}")
    for provider in ("aws", "azure", "gcp") for kind in sorted(HOSTILE_ZIPS)
]


@pytest.mark.parametrize(("provider", "kind"), HOSTILE_ZIP_CASES)
def test_a_hostile_prebuilt_package_is_refused_before_any_call(action, workspace, provider, kind):
    (workspace / "p.zip").write_bytes(zip_bytes(HOSTILE_ZIPS[kind]))
    inputs = {k: v for k, v in INPUTS[provider](package="p.zip").items() if k != "source"}
    with ErrorServer(503, {}) as cloud:
        env = {**Nowhere().env(), "AWS_ENDPOINT_URL": cloud.url, "FAAS_AZURE_ARM_ENDPOINT": cloud.url + "/arm",
               "FAAS_AZURE_SCM_ENDPOINT": cloud.url + "/kudu", "FAAS_GCP_ENDPOINT": cloud.url}
        result = action.run(inputs, env=env, timeout=RUN_DEADLINE_S)
        requests = list(cloud.requests)
    assert requests == [], requests
    assert_well_behaved(result, 1, errors=1)
    assert "p.zip" in result.errors[0] or "package" in result.errors[0]


# -- 13. the same key or function twice ---------------------------------------------------------------


@pytest.mark.parametrize("provider", ["azure", "gcp"])
@pytest.mark.parametrize("form", ["lines", "yaml"])
def test_the_same_environment_key_twice_names_both_places(action, workspace, provider, form):
    app_workspace(workspace)
    value = "KEEP=1\nDUP=first\nDUP=second\n" if form == "lines" else "KEEP: 1\nDUP: first\nDUP: second\n"
    result = action.run(INPUTS[provider](environment=value), env=Nowhere().env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "DUP" in result.errors[0] and "2" in result.errors[0] and "3" in result.errors[0], result.errors


def test_a_function_named_by_name_and_by_arn_is_the_same_function_twice(aws_action, workspace, lambda_proxy):
    write_python_app(workspace / "app")
    (workspace / "faas.yml").write_text(
        "provider: aws\nsource: app\nfunctions:\n  - function-name: twin\n"
        "  - function-name: arn:aws:lambda:us-east-1:123456789012:function:twin\n"
    )
    result = aws_action.run({"config": "faas.yml"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "functions[0]" in result.errors[0] and "functions[1]" in result.errors[0], result.errors
    assert lambda_proxy.requests == []


def test_an_azure_app_twice_in_another_case_is_the_same_function_twice(action, workspace, azure_fake):
    app_workspace(workspace)
    (workspace / "faas.yml").write_text(
        f"provider: azure\nsource: app\nresource-group: {RESOURCE_GROUP}\nsubscription-id: {SUBSCRIPTION}\n"
        "functions:\n  - function-name: my-app\n  - function-name: MY-APP\n"
    )
    result = action.run({"config": "faas.yml", "azure-access-token": AZURE_TOKEN}, env=azure_fake.env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "functions[0]" in result.errors[0] and "functions[1]" in result.errors[0], result.errors
    assert azure_fake.requests == []


# -- 14. an ignore file that is a symlink leaving the source -----------------------------------------

# A provider's own ignore file (.funcignore, .gcloudignore) is packaged, so the walk refuses it as an
# escaping symlink. `.faasignore` is always excluded from the package and GCP's `.gitignore` is in its
# default ignores (`#!include:.gitignore`), so neither is walked: the ignore rules must refuse them.


@pytest.mark.parametrize(("provider", "ignore_file"), [
    pytest.param("aws", ".faasignore"),
    pytest.param("azure", ".faasignore"),
    pytest.param("gcp", ".faasignore"),
    pytest.param("gcp", ".gitignore"),
    ("azure", ".funcignore"),
    ("gcp", ".gcloudignore"),
])
def test_an_ignore_file_symlinked_out_of_the_source_is_refused(action, workspace, tmp_path, provider, ignore_file):
    app_workspace(workspace)
    outside = tmp_path / "outside-ignore"
    outside.write_text("secret-*.txt\n")
    (workspace / "app" / ignore_file).symlink_to(outside)
    result = action.run(INPUTS[provider](**{"dry-run": "true"}), env=Nowhere().env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert ignore_file in result.errors[0] and "symlink" in result.errors[0], result.errors


# -- 15. workflow-command injection through a printed value ------------------------------------------


def test_a_newline_in_a_gcp_description_starts_no_command(action, workspace, gcp_fake):
    write_python_app(workspace / "app")
    gcp_fake.require_token = GCP_TOKEN
    env = {"FAAS_GCP_ENDPOINT": gcp_fake.url, "NO_GCE_CHECK": "true"}
    created = action.run(gcp_inputs(description=INJECTION, **{"wait-timeout": "30"}), env=env, timeout=RUN_DEADLINE_S)
    assert_well_behaved(created, 0, errors=0)
    planned = action.run(gcp_inputs(description="plain", **{"dry-run": "true"}), env=env, timeout=RUN_DEADLINE_S)
    assert_well_behaved(planned, 0, errors=0)
    assert INJECTED in planned.stdout, "the old description is shown in the plan, inert"


@pytest.mark.parametrize("where", ["plan", "error"])
def test_a_newline_in_an_aws_description_starts_no_command_in_the_plan_or_an_error(aws_action, workspace, lambda_proxy,
                                                                                  function_name, aws_role, where):
    write_python_app(workspace / "app")
    if where == "error":
        lambda_proxy.fail("POST", r"/2015-03-31/functions$", 400, "InvalidParameterValueException",
                          f"description {INJECTION} is not allowed")
    result = aws_action.run(aws_inputs(function_name, role=aws_role, description=INJECTION, **{"wait-timeout": "30"}),
                            timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1 if where == "error" else 0, errors=1 if where == "error" else 0)


def test_a_gcp_build_failure_with_command_lines_is_inert(action, workspace, gcp_fake):
    write_python_app(workspace / "app")
    gcp_fake.build_failure = f"pip failed:\n{INJECTION}"
    result = action.run(gcp_inputs(**{"wait-timeout": "30"}), env={"FAAS_GCP_ENDPOINT": gcp_fake.url, "NO_GCE_CHECK": "true"},
                        timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert INJECTED in result.errors[0], "the service's message is shown, as data"


def test_a_gcp_api_error_with_command_lines_is_inert(action, workspace, gcp_fake):
    write_python_app(workspace / "app")
    gcp_fake.fail("GET", "/functions/hello", 400, "INVALID_ARGUMENT", f"bad request:\n{INJECTION}", times=5)
    result = action.run(gcp_inputs(), env={"FAAS_GCP_ENDPOINT": gcp_fake.url, "NO_GCE_CHECK": "true"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)


def test_an_azure_error_with_command_lines_is_inert(action, workspace):
    app_workspace(workspace)
    body = {"error": {"code": "BadRequest", "message": f"refused:\n{INJECTION}"}}
    with ErrorServer(400, body) as arm:
        result = action.run(azure_inputs(), env={"FAAS_AZURE_ARM_ENDPOINT": arm.url, "FAAS_AZURE_SCM_ENDPOINT": arm.url},
                            timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)


# -- 16. every problem at once ---------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["aws", "gcp"])
def test_a_bad_memory_and_a_corrupt_zip_give_two_errors(action, workspace, provider):
    (workspace / "bad.zip").write_bytes(corrupt_central_directory(zip_bytes({"app.py": "x = 1\n" * 50})))
    inputs = {k: v for k, v in INPUTS[provider](package="bad.zip", memory="lots").items() if k != "source"}
    result = action.run(inputs, env=Nowhere().env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=2)


def test_a_bad_memory_and_a_package_over_the_unzipped_limit_give_two_errors(aws_action, workspace, lambda_proxy):
    write_python_app(workspace / "app")
    with open(workspace / "app" / "zeros.bin", "wb") as handle:
        handle.truncate(251 * 1024 * 1024)  # sparse: 251 MB unzipped, a few hundred KB zipped
    result = aws_action.run(aws_inputs(memory="1"), timeout=RUN_DEADLINE_S)
    assert lambda_proxy.requests == []
    assert_well_behaved(result, 1, errors=2)


def test_a_package_over_the_unzipped_limit_alone_is_one_error(aws_action, workspace, lambda_proxy):
    """The control for the test above: with valid inputs the size limit is reported."""
    write_python_app(workspace / "app")
    with open(workspace / "app" / "zeros.bin", "wb") as handle:
        handle.truncate(251 * 1024 * 1024)
    result = aws_action.run(aws_inputs(), timeout=RUN_DEADLINE_S)
    assert lambda_proxy.requests == []
    assert_well_behaved(result, 1, errors=1)
    assert "250 MB" in result.errors[0]


def test_problems_of_every_provider_in_one_config_come_out_together(action, workspace, tmp_path):
    """One function per cloud, each with its own kind of problem (an input value, a missing
    setting, a packaging refusal, a missing project): one ::error each, no request at all."""
    app_workspace(workspace)
    (workspace / "escape").mkdir()
    (workspace / "escape" / "main.py").write_text("x = 1\n")
    (workspace / "escape" / "leak").symlink_to(tmp_path)
    (workspace / "faas.yml").write_text(
        "functions:\n"
        "  - provider: aws\n    function-name: qa-aws\n    source: app\n    memory: 64\n"
        "  - provider: azure\n    function-name: qa-azure\n    source: app\n"
        f"    subscription-id: {SUBSCRIPTION}\n"
        f"  - provider: gcp\n    function-name: qa-gcp\n    source: escape\n    region: {GCP_REGION}\n"
        "    runtime: python312\n"
    )
    with ErrorServer(503, {}) as cloud:
        env = {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": cloud.url, "FAAS_AZURE_ARM_ENDPOINT": cloud.url,
               "FAAS_AZURE_SCM_ENDPOINT": cloud.url, "FAAS_GCP_ENDPOINT": cloud.url, "NO_GCE_CHECK": "true"}
        result = action.run({"config": "faas.yml", "azure-access-token": AZURE_TOKEN, "gcp-access-token": GCP_TOKEN},
                            env=env, timeout=RUN_DEADLINE_S)
        assert cloud.requests == []
    assert_well_behaved(result, 1, errors=4)
    joined = "\n".join(result.errors)
    assert "memory" in joined and "resource-group" in joined and "symlink" in joined and "project" in joined, joined


# -- 17. a secret quoted back by a service ------------------------------------------------------------

SECRET = "qa-s3cr3t/value+with=chars"


def test_an_environment_value_echoed_by_gcp_is_redacted_everywhere(action, workspace, gcp_fake):
    write_python_app(workspace / "app")
    gcp_fake.add_function(GCP_NAME, entry_point="hello")
    from urllib.parse import quote

    gcp_fake.fail("PATCH", "/functions/hello", 400, "INVALID_ARGUMENT",
                  f"value {SECRET} for API_KEY is invalid (encoded {quote(SECRET, safe='')}, json {json.dumps(SECRET)})")
    result = action.run(gcp_inputs(environment=f"API_KEY={SECRET}", **{"wait-timeout": "30"}),
                        env={"FAAS_GCP_ENDPOINT": gcp_fake.url, "NO_GCE_CHECK": "true"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "***" in result.errors[0]
    assert_secret_never_shown(result, SECRET)
    assert quote(SECRET, safe="") not in result.stdout + json.dumps(result.outputs) + result.summary
    (entry,) = results_of(result)
    assert entry["status"] == "failed" and "***" in entry["error"]


def test_tokens_echoed_by_azure_are_redacted_everywhere(action, workspace):
    app_workspace(workspace)
    body = {"error": {"code": "AuthorizationFailed",
                      "message": f"token {AZURE_TOKEN} may not read; setting value {SECRET} rejected"}}
    with ErrorServer(403, body) as arm:
        result = action.run(azure_inputs(environment=f"DB_PASSWORD={SECRET}"),
                            env={"FAAS_AZURE_ARM_ENDPOINT": arm.url, "FAAS_AZURE_SCM_ENDPOINT": arm.url},
                            timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert_secret_never_shown(result, SECRET)
    assert_secret_never_shown(result, AZURE_TOKEN)


def test_the_aws_secret_key_echoed_by_the_service_is_redacted(aws_action, workspace, lambda_proxy, function_name):
    write_python_app(workspace / "app")
    key = AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"]
    lambda_proxy.fail("GET", rf"/functions/{function_name}", 403, "AccessDeniedException",
                      f"signature computed with {key} does not match", times=50)
    result = aws_action.run(aws_inputs(function_name), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    shown = [ln for ln in result.stdout.splitlines() if key in ln and ln != f"::add-mask::{key}"]
    assert shown == [] and key not in result.summary and key not in json.dumps(result.outputs)


# -- 18. likely secrets in the package ---------------------------------------------------------------

LIKELY_SECRETS = [".env", ".env.production", "tls.pem", "server.key", "id_rsa", "id_rsa.pub", ".npmrc", ".pypirc",
                  "credentials.json", ".aws/credentials"]


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_likely_secret_files_in_the_package_are_warned_about(action, workspace, provider):
    app_workspace(workspace)
    for name in LIKELY_SECRETS:
        path = workspace / "app" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("TOKEN=not-for-the-package\n")
    result = action.run(INPUTS[provider](**{"dry-run": "true", "wait-timeout": "3"}), env=Nowhere().env(),
                        timeout=RUN_DEADLINE_S)
    warnings = [ln for ln in result.stdout.splitlines() if ln.startswith("::warning")]
    named = "\n".join(warnings)
    missing = [n for n in LIKELY_SECRETS if n.split("/")[-1] not in named and n.split("/")[0] not in named]
    assert warnings and not missing, (missing, warnings)
    assert "ignore" in named


def test_a_clean_source_gets_no_secret_warning(aws_action, workspace, lambda_proxy, function_name, aws_role):
    """The control for the test above: a source with none of those names warns about nothing."""
    write_python_app(workspace / "app")
    (workspace / "app" / "README.md").write_text("docs\n")
    result = aws_action.run(aws_inputs(function_name, role=aws_role, **{"dry-run": "true"}), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert not [ln for ln in result.stdout.splitlines() if ln.startswith("::warning")]


def wif_credentials(path: Path, token_url: str, sts_url: str) -> Path:
    """What google-github-actions/auth writes for workload identity federation."""
    path.write_text(json.dumps({
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/gh/providers/gh",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": sts_url,
        "credential_source": {"url": token_url, "headers": {"Authorization": "Bearer runner-request-token"},
                              "format": {"type": "json", "subject_token_field_name": "value"}},
    }))
    return path


@pytest.mark.parametrize("failures", [
    0,
    2,
])
def test_the_oidc_request_behind_gcp_workload_identity_is_retried(action, workspace, gcp_fake, failures):
    from tests.fakes.gcp_fake import STS_TOKEN

    write_python_app(workspace / "app")
    gcp_fake.require_token = STS_TOKEN
    upstream = f"{gcp_fake.url}/oidc?api-version=2.0&audience=https%3A%2F%2Fiam.googleapis.com%2F"
    front = FlakyTokenFront(upstream, failures=failures)
    try:
        path = "/" + upstream.split("/", 3)[3]
        creds = wif_credentials(workspace / "gha-creds-0123abcd.json", f"http://127.0.0.1:{front.port}{path}",
                                f"{gcp_fake.url}/sts/v1/token")
        inputs = {k: v for k, v in gcp_inputs(**{"wait-timeout": "30"}).items() if k != "gcp-access-token"}
        result = action.run(inputs, env={"FAAS_GCP_ENDPOINT": gcp_fake.url, "NO_GCE_CHECK": "true",
                                         "GOOGLE_APPLICATION_CREDENTIALS": str(creds)}, timeout=RUN_DEADLINE_S)
    finally:
        front.close()
    assert_well_behaved(result, 0, errors=0)
    assert front.requests >= failures + 1


# -- JSON nested deeper than any real value (item 4's RecursionError, for the JSON inputs) -------------

DEEP_JSON = "[" * 3000 + "]" * 3000
ISSUE_4_JSON = ("issue 10 item 4 ('YAML nested deeper than any real config (`RecursionError` at ~2,000 levels)') and the "
                "rule 'exit 1 with a clear ::error for every expected failure, exit 2 only for a bug': JSON is parsed with "
                "json.loads, whose RecursionError is not a ValueError: config/release._smoke_event crashes on a deep "
                "`smoke-event` (before any call), release.smoke_problem on a deep `smoke-expect` or a deep response from "
                "the function (after the version is published)")


@pytest.mark.parametrize("where", ["input", "file"])
def test_a_smoke_event_nested_too_deep_is_an_input_error(aws_action, workspace, lambda_proxy, where):
    write_python_app(workspace / "app")
    (workspace / "event.json").write_text(DEEP_JSON)
    value = DEEP_JSON if where == "input" else "@event.json"
    result = aws_action.run(aws_inputs(alias="live", **{"smoke-event": value}), timeout=RUN_DEADLINE_S)
    assert lambda_proxy.requests == []
    assert_well_behaved(result, 1, errors=1)
    assert "smoke-event" in result.errors[0]


@pytest.mark.parametrize("what", ["smoke-expect", "response"])
def test_deep_json_in_the_smoke_test_is_a_clear_failure(aws_action, workspace, lambda_proxy, function_name, aws_role, what):
    write_python_app(workspace / "app")
    expect = DEEP_JSON if what == "smoke-expect" else '{"ok": true}'
    if what == "response":
        lambda_proxy.script_invoke(function_name, "1", DEEP_JSON)
    result = aws_action.run(aws_inputs(function_name, role=aws_role, alias="live",
                                       **{"smoke-event": "{}", "smoke-expect": expect, "wait-timeout": "30"}),
                            timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "smoke" in result.errors[0]


@pytest.mark.parametrize(("provider", "variable"), [
    ("aws", "AWS_SHARED_CREDENTIALS_FILE"),
    ("aws", "AWS_WEB_IDENTITY_TOKEN_FILE"),
    ("azure", "AZURE_FEDERATED_TOKEN_FILE"),
    ("gcp", "GOOGLE_APPLICATION_CREDENTIALS"),
])
def test_a_credentials_file_that_is_a_fifo_is_refused_without_blocking(action, workspace, provider, variable):
    import subprocess

    app_workspace(workspace)
    os.mkfifo(workspace / "creds-fifo")
    env = {**Nowhere().env(), variable: str(workspace / "creds-fifo")}
    inputs = {k: v for k, v in INPUTS[provider]().items() if k not in ("azure-access-token", "gcp-access-token")}
    if provider == "aws":
        env.update({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ci"})
    if provider == "azure":
        inputs.update({"client-id": "11111111-2222-3333-4444-555555555555", "tenant-id": "99999999-8888-7777-6666-555555555555"})
    try:
        result = action.run(inputs, env=env, timeout=20)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the run blocked on the {variable} FIFO") from exc
    assert_well_behaved(result, 1, errors=1)
    assert variable in result.errors[0]
