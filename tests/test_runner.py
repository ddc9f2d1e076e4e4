"""The runner contract: input names, outputs in heredoc form, masks and annotations."""

from __future__ import annotations

import io

from faas_action.runner import Runner, input_env_name
from tests.harness import parse_github_output


def test_input_env_names_keep_hyphens():
    assert input_env_name("function-name") == "INPUT_FUNCTION-NAME"
    assert input_env_name("my input") == "INPUT_MY_INPUT"


def test_inputs_are_trimmed_and_default_to_empty():
    runner = Runner({"INPUT_FUNCTION-NAME": "  fn \n"}, io.StringIO())
    assert runner.input("function-name") == "fn"
    assert runner.input("memory") == ""


def test_outputs_round_trip_through_the_runner_format(tmp_path):
    path = tmp_path / "out"
    path.write_text("")
    runner = Runner({"GITHUB_OUTPUT": str(path)}, io.StringIO())
    runner.set_output("plan", '{"a": 1}\nsecond line')
    runner.set_output("empty", "")
    runner.set_output("equals", "a=b<<c")
    assert parse_github_output(path.read_text()) == {"plan": '{"a": 1}\nsecond line', "empty": "", "equals": "a=b<<c"}


def test_annotations_are_escaped_and_masks_are_issued_once():
    out = io.StringIO()
    runner = Runner({}, out)
    runner.mask("s3cret\nline2")
    runner.mask("s3cret")
    runner.mask("x")  # too short to mask usefully
    runner.error("bad: 100%\nnext", title="faas-action: invalid, input")
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["::add-mask::s3cret%0Aline2", "::add-mask::s3cret", "::add-mask::line2"]
    assert len([ln for ln in lines if ln.startswith("::add-mask::")]) == 3
    assert lines[-1] == "::error title=faas-action%3A invalid%2C input::bad: 100%25%0Anext"


def test_summary_appends(tmp_path):
    path = tmp_path / "summary"
    runner = Runner({"GITHUB_STEP_SUMMARY": str(path)}, io.StringIO())
    runner.add_summary("| a |")
    runner.add_summary("| b |\n")
    assert path.read_text() == "| a |\n| b |\n"


def test_oidc_token_request_and_mask():
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen = {}

    class TokenHandler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen["path"] = self.path
            seen["auth"] = self.headers.get("Authorization")
            body = json.dumps({"value": "eyJ.header.signature"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), TokenHandler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    out = io.StringIO()
    runner = Runner({
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
    }, out)
    try:
        assert runner.id_token("api://AzureADTokenExchange") == "eyJ.header.signature"
    finally:
        thread.join(5)
        server.server_close()
    assert seen["path"] == "/token?api-version=2.0&audience=api%3A//AzureADTokenExchange"
    assert seen["auth"] == "Bearer request-token"
    assert out.getvalue() == "::add-mask::eyJ.header.signature\n"


def test_oidc_without_permission_is_a_credentials_error():
    import pytest

    from faas_action.errors import CredentialsError

    with pytest.raises(CredentialsError, match="id-token: write"):
        Runner({}, io.StringIO()).id_token("sts.amazonaws.com")
