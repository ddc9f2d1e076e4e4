"""The runner contract under hostile values: no printed value starts a workflow command, every
masked value is redacted from everything the action writes, RUNNER_TEMP that the container
cannot use is replaced, and the OIDC token request is bounded and retried."""

from __future__ import annotations

import base64
import io
import json
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from faas_action.errors import CredentialsError
from faas_action.runner import Runner, RunnerLog
from tests.fakes.workflow_commands import issued
from tests.harness import free_port, parse_github_output

# -- RUNNER_TEMP ------------------------------------------------------------------------------


def test_runner_temp_is_used_when_the_container_can_write_there(tmp_path):
    assert Runner({"RUNNER_TEMP": str(tmp_path)}, io.StringIO()).temp_dir == tmp_path
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind


@pytest.mark.parametrize("kind", ["missing", "file", "unset"])
def test_runner_temp_the_container_cannot_use_falls_back_to_its_own_temp(tmp_path, kind):
    # Runners before 2.331 pass the host's RUNNER_TEMP without mounting it into the container.
    path = tmp_path / "host" / "_temp"
    if kind == "file":
        path.parent.mkdir()
        path.write_text("")
    environ = {} if kind == "unset" else {"RUNNER_TEMP": str(path)}
    assert Runner(environ, io.StringIO()).temp_dir == Path(tempfile.gettempdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_runner_temp_that_is_not_writable_falls_back(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert Runner({"RUNNER_TEMP": str(locked)}, io.StringIO()).temp_dir == Path(tempfile.gettempdir())


# -- workflow-command injection -----------------------------------------------------------------

INJECTIONS = [
    "description\n::warning::injected",
    "description\r::add-mask::injected",
    "description\r\n  ::error title=x::injected",
    "::notice::injected at the start",
    "\t::debug::after a tab",
    "\u00a0\u2003::warning::after unicode spaces",
    "legacy form anywhere ##[add-mask]injected",
    "line\n::stop-commands::abc\n::warning::injected\n::abc::\n::warning::after resume",
    "::set-output name=x::y",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_printed_text_never_starts_a_workflow_command(text):
    out = io.StringIO()
    Runner({}, out).print(text)
    assert issued(out.getvalue()) == [], out.getvalue()
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        assert line in out.getvalue()  # still shown, only inert


@pytest.mark.parametrize("text", INJECTIONS)
def test_annotations_group_titles_and_debug_carry_text_as_data_only(text):
    out = io.StringIO()
    runner = Runner({}, out)
    runner.error(text, title=text)
    runner.warning(text)
    runner.notice(text)
    runner.debug(text)
    with runner.group(text):
        RunnerLog(runner).info(text)
    commands = issued(out.getvalue())
    assert [c.name for c in commands] == ["error", "warning", "notice", "debug", "group", "endgroup"], out.getvalue()
    assert commands[0].data == text and commands[0].properties["title"] == text
    assert commands[4].data == text


def test_plain_lines_are_printed_as_they_are():
    out = io.StringIO()
    Runner({}, out).print("Plan: update aws function fn\n  role: arn:aws:iam::123456789012:role/x")
    assert out.getvalue() == "Plan: update aws function fn\n  role: arn:aws:iam::123456789012:role/x\n"


def test_output_from_several_threads_never_interleaves_inside_a_wrapped_block():
    out = io.StringIO()
    runner = Runner({}, out)

    def noisy(n):
        for i in range(50):
            runner.print(f"{n}-{i}\n::warning::injected")
            runner.mask(f"secret-{n}-{i}")

    threads = [threading.Thread(target=noisy, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    names = [c.name for c in issued(out.getvalue())]
    assert names == ["add-mask"] * 200


# -- redaction ----------------------------------------------------------------------------------

SECRET = 'p@ss "w0rd"/+x'


def forms(secret: str) -> list[str]:
    return [
        secret,
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(secret.encode()).decode().rstrip("="),
    ]


def test_masked_values_are_redacted_from_everything_the_action_writes(tmp_path):
    output, summary = tmp_path / "output", tmp_path / "summary"
    out = io.StringIO()
    runner = Runner({"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}, out)
    runner.mask(SECRET)
    for form in forms(SECRET):
        runner.print(f"service said: {form}.")
        runner.error(f"denied for {form}", title=f"title {form}")
        runner.warning(f"warning {form}")
        runner.notice(f"notice {form}")
        runner.debug(f"debug {form}")
        with runner.group(f"group {form}"):
            pass
        runner.add_summary(f"| {form} |")
    runner.set_output("message", runner.redact(f"the service echoed {SECRET}"))
    printed = [ln for ln in out.getvalue().splitlines() if not ln.startswith("::add-mask::")]
    written = "\n".join(printed) + summary.read_text() + output.read_text()
    for form in forms(SECRET):
        assert form not in written, form
    assert "***" in summary.read_text()
    outputs = parse_github_output(output.read_text())
    assert outputs["message"] == "the service echoed ***"


def test_every_line_of_a_multi_line_secret_is_redacted():
    out = io.StringIO()
    runner = Runner({}, out)
    runner.mask("-----BEGIN KEY-----\nAAAAsecretline\n-----END KEY-----")
    runner.error("the service quoted AAAAsecretline back")
    assert "::error::the service quoted *** back" in out.getvalue()


def test_outputs_are_the_actions_own_values_and_stay_usable(tmp_path):
    # Masking an environment value such as `true`, `5120` or a stage name must not break
    # `changed`, a size or an ARN that happens to contain it.
    output = tmp_path / "output"
    runner = Runner({"GITHUB_OUTPUT": str(output)}, io.StringIO())
    runner.mask("true")
    runner.mask("5120")
    runner.mask("prod")
    runner.set_output("changed", "true")
    runner.set_output("package-size", "5120")
    runner.set_output("function-id", "arn:aws:lambda:us-east-1:123456789012:function:api-prod")
    outputs = parse_github_output(output.read_text())
    assert outputs["changed"] == "true" and outputs["package-size"] == "5120"
    assert outputs["function-id"].endswith(":function:api-prod")


def test_credentials_from_the_environment_are_redacted_without_a_new_mask():
    out = io.StringIO()
    runner = Runner({"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token-1234", "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEJr"}, out)
    runner.print("echo: request-token-1234 FwoGZXIvYXdzEJr")
    assert out.getvalue() == "echo: *** ***\n"


# -- OIDC -----------------------------------------------------------------------------------------


class TokenServer:
    """Answers the OIDC token request; `script` lists what the next requests get:
    an HTTP status, 'stall' (hold the connection without answering), 'empty' (200 without a
    token) or 'ok'."""

    def __init__(self, script: list) -> None:
        self.script = list(script)
        self.requests: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                step = server.script.pop(0) if server.script else "ok"
                if step == "stall":
                    server.release.wait(30)
                    return
                if step in ("ok", "empty"):
                    body = json.dumps({"value": "eyJ.header.signature"} if step == "ok" else {}).encode()
                    self.send_response(200)
                else:
                    body = b'{"message": "unavailable"}'
                    self.send_response(step)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/token?api-version=2.0"

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def token_server():
    servers = []

    def make(script):
        servers.append(TokenServer(script))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def oidc_runner(url: str, out: io.StringIO, slept: list) -> Runner:
    runner = Runner({"ACTIONS_ID_TOKEN_REQUEST_URL": url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token"}, out, sleep=slept.append)
    runner.oidc_timeout_s = 0.5
    return runner


@pytest.mark.timeout(60)
@pytest.mark.parametrize("script", [[503], [500, 502], [429], ["stall"], [503, "stall", 504]], ids=str)
def test_oidc_token_request_is_retried_after_a_failure_or_a_stall(token_server, script):
    server = token_server(script)
    out, slept = io.StringIO(), []
    token = oidc_runner(server.url, out, slept).id_token("sts.amazonaws.com")
    assert token == "eyJ.header.signature"
    assert len(server.requests) == len(script) + 1
    assert len(slept) == len(script) and all(0 < s <= 10 for s in slept)
    assert out.getvalue().splitlines()[-1] == "::add-mask::eyJ.header.signature"


@pytest.mark.timeout(60)
def test_oidc_token_request_gives_up_after_bounded_attempts(token_server):
    server = token_server([503] * 50)
    out, slept = io.StringIO(), []
    started = time.monotonic()
    with pytest.raises(CredentialsError, match="503"):
        oidc_runner(server.url, out, slept).id_token("sts.amazonaws.com")
    assert 2 <= len(server.requests) <= 6
    assert time.monotonic() - started < 30


@pytest.mark.timeout(60)
def test_oidc_token_request_to_a_closed_port_fails_cleanly():
    url = f"http://127.0.0.1:{free_port()}/token?api-version=2.0"
    slept: list = []
    with pytest.raises(CredentialsError, match="OIDC"):
        oidc_runner(url, io.StringIO(), slept).id_token("sts.amazonaws.com")
    assert 1 <= len(slept) <= 5


@pytest.mark.timeout(60)
@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_oidc_client_errors_are_not_retried(token_server, status):
    server = token_server([status])
    with pytest.raises(CredentialsError, match=str(status)):
        oidc_runner(server.url, io.StringIO(), []).id_token("sts.amazonaws.com")
    assert len(server.requests) == 1


@pytest.mark.timeout(60)
def test_oidc_reply_without_a_token_is_a_credentials_error(token_server):
    server = token_server(["empty"])
    with pytest.raises(CredentialsError, match="token"):
        oidc_runner(server.url, io.StringIO(), []).id_token("sts.amazonaws.com")
    assert len(server.requests) == 1
