"""Shared black-box checks for the QA scenario tests (tests/test_qa_issue*.py).

Owns: what every run of the action must satisfy whatever the scenario (exit code 0 or 1, never
2; no traceback; only the workflow commands the action means to issue; no command started by a
printed value), small servers that answer like a cloud's error contract, and workspace helpers.
Must not: import or call faas_action (the checks judge the action from the outside, as the
runner sees it).
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.fakes.workflow_commands import issued

# The commands the action means to issue; anything else (set-output, set-env, add-path, echo,
# add-matcher, ...) in its stdout would be an injection.
ACTING_COMMANDS = {"error", "warning", "notice", "debug", "add-mask", "group", "endgroup"}
INJECTED = "qa-injected-by-a-value"
# A value that tries every way of starting a workflow command from inside a printed line.
INJECTION = (
    f"first line\n::warning::{INJECTED}\n  ::add-mask::{INJECTED}\r::set-output name=x::{INJECTED}"
    f"\n##[error]{INJECTED}\n%0A::notice::{INJECTED}"
)


def assert_well_behaved(result, code: int, errors: int | None = None) -> None:
    """Exit `code` (0 or 1), no traceback, `errors` ::error lines (when given), and nothing in
    stdout or stderr that the runner would read as a command the action did not mean."""
    text = result.stdout + "\n--- stderr ---\n" + result.stderr
    assert result.code == code, text[-6000:]
    assert "Traceback" not in result.stdout + result.stderr, text[-6000:]
    if errors is not None:
        assert len(result.errors) == errors, "\n".join(result.errors) + "\n" + text[-4000:]
    for stream in (result.stdout, result.stderr):
        commands = issued(stream)
        assert {c.name for c in commands} <= ACTING_COMMANDS, [c for c in commands if c.name not in ACTING_COMMANDS]
        # A value may be shown inside an annotation or a group title (escaped, as data), but no
        # command may be one that a printed value started.
        assert not [c for c in commands if c.data.lstrip().startswith(INJECTED)], commands


def assert_secret_never_shown(result, secret: str) -> None:
    """The secret appears only in its own ::add-mask:: line: never in another log line, the
    summary, or an output."""
    def masks_it(line: str) -> bool:  # the ::add-mask:: command of this secret (its data escaped as the runner reads it)
        found = issued(line)
        return len(found) == 1 and found[0].name == "add-mask" and found[0].data == secret

    shown = [ln for ln in (result.stdout + "\n" + result.stderr).splitlines()
             if secret in ln.replace("%25", "%") and not masks_it(ln)]
    assert shown == [], shown
    assert secret not in result.summary, result.summary
    assert secret not in json.dumps(result.outputs), result.outputs


def results_of(result) -> list[dict]:
    return json.loads(result.outputs["results"])


def zip_bytes(entries: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def corrupt_central_directory(data: bytes) -> bytes:
    """The zip with its central directory's signature broken: the end record still points at
    it (zipfile.is_zipfile says yes), reading the entries fails (BadZipFile)."""
    raw = bytearray(data)
    at = raw.rfind(b"PK\x01\x02")
    assert at > 0
    raw[at:at + 4] = b"XX\x01\x02"
    return bytes(raw)


def write_python_app(directory: Path, body: str = "return 'hello'") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.py").write_text(f"def handler(event, context):\n    {body}\n")
    (directory / "main.py").write_text(f"def hello(request):\n    {body}\n")


class ErrorServer:
    """Answers every request with one HTTP error and a JSON body (a cloud's error contract),
    recording each request: a service that refuses everything, with a message of our choice."""

    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.requests.append(f"{self.command} {self.path}")
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "ErrorServer":
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
