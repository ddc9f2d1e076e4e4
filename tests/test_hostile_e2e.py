"""The action as the runner runs it, fed hostile input: always exit 1 with `::error` lines, no
traceback, no request, no injected workflow command; and the run-time faults of issue 10 that
the runner contract owns (an unmounted RUNNER_TEMP, a secret echoed back, a newline in a value).

The property test draws its cases from a seeded generator (`SEED`, printed in every failure):
each case is a valid deploy of one provider with at least one certainly-bad change, plus some
odd-but-valid noise. Every endpoint, and the HTTP(S) proxy, points at a local recorder that
must see no request. Every run has a deadline.
"""

from __future__ import annotations

import io
import json
import os
import random
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest

from faas_action import main
from tests.conftest import AWS_TEST_ENV
from tests.fakes.workflow_commands import issued
from tests.harness import ActionRunner

SEED = int(os.environ.get("FAAS_HOSTILE_SEED", "20240610"))
SUBPROCESS_CASES = 40
IN_PROCESS_CASES = 200
RUN_DEADLINE_S = 60
INJECTED = "pwned-by-input"
ACTING_COMMANDS = {"error", "warning", "notice", "debug", "add-mask", "group", "endgroup"}


# -- a recorder that must see nothing -------------------------------------------------------------


class Recorder:
    """Answers every request (proxy CONNECTs included) with 503 and remembers it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                recorder.requests.append(f"{self.command} {self.path}")
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_CONNECT = _record

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def environment(self) -> dict[str, str]:
        url = self.url
        return {
            **AWS_TEST_ENV,
            "AWS_ENDPOINT_URL": url,
            "FAAS_AZURE_ARM_ENDPOINT": url,
            "FAAS_AZURE_SCM_ENDPOINT": url,
            "FAAS_GCP_ENDPOINT": url,
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{url}/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token-for-tests",
            "HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url,
            "NO_PROXY": "", "no_proxy": "",
        }

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def recorder():
    server = Recorder()
    yield server
    server.stop()


# -- the generator ----------------------------------------------------------------------------------


@dataclass
class Case:
    provider: str
    inputs: dict[str, str]
    files: list[Callable[[Path], None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


VALID = {
    "aws": {"provider": "aws", "function-name": "fn-ok", "region": "us-east-1", "source": "app",
            "runtime": "python3.12", "handler": "app.handler", "role": "arn:aws:iam::123456789012:role/r"},
    "azure": {"provider": "azure", "function-name": "app-ok", "resource-group": "rg",
              "subscription-id": "00000000-0000-0000-0000-000000000000", "source": "app",
              "azure-access-token": "azure-token-for-tests"},
    "gcp": {"provider": "gcp", "function-name": "fn-ok", "region": "us-central1", "project": "my-project-1",
            "source": "app", "runtime": "python312", "entry-point": "main", "gcp-access-token": "gcp-token-for-tests"},
}
NOT_FOR = {"aws": ("resource-group", "westeurope-rg"), "azure": ("handler", "app.handler"), "gcp": ("tracing", "Active")}
INJECTION = f"x\n::warning::{INJECTED}\r::add-mask::{INJECTED}\n##[set-output name=a;]{INJECTED}"


def write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def make(ws: Path) -> None:
        path = ws / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return make


def fifo(name: str) -> Callable[[Path], None]:
    return lambda ws: os.mkfifo(ws / name)


BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
)
BAD_CONFIGS: list[tuple[str, Callable[[Path], None]]] = [
    ("fifo", fifo("faas.yml")),
    ("not utf-8", write("faas.yml", b"memory: 128\ndescription: caf\xe9\n")),
    ("yaml bomb", write("faas.yml", BOMB + "\nenvironment:\n  X: *i\n")),
    ("deep flow", write("faas.yml", "environment: " + "[" * 3000 + "]" * 3000 + "\n")),
    ("deep block", write("faas.yml", "environment:\n  " + "- " * 3000 + "x\n")),
    ("duplicate key", write("faas.yml", "memory: 128\nmemory: 256\n")),
    ("duplicate env key", write("faas.yml", "environment:\n  A: 1\n  A: 2\n")),
    ("unknown key", write("faas.yml", "functoin-name: x\n")),
    ("invalid yaml", write("faas.yml", "provider: [aws\n")),
    ("a list", write("faas.yml", "- a\n- b\n")),
    ("empty functions", write("faas.yml", "functions: []\n")),
    ("a directory", lambda ws: (ws / "faas.yml").mkdir()),
    ("too big", write("faas.yml", "# x\n" * 300_000)),
    ("control characters", write("faas.yml", "memory: \x00\x07\n")),
    ("recursive alias", write("faas.yml", "environment: &e\n  SELF: *e\n")),
    ("python tag", write("faas.yml", "memory: !!python/object/apply:os.system ['true']\n")),
    ("same function twice", write("faas.yml", "functions:\n  - function-name: twin\n  - function-name: twin\n")),
]


def bad_mutations(provider: str) -> list[tuple[str, Callable[[random.Random, Case], None]]]:
    other, other_value = NOT_FOR[provider]

    def put(**values: str):
        return lambda rng, case: case.inputs.update(values)

    def pick(name: str, values: list[str]):
        return lambda rng, case: case.inputs.update({name: rng.choice(values)})

    def config(rng: random.Random, case: Case) -> None:
        note, make = rng.choice(BAD_CONFIGS)
        case.files.append(make)
        case.inputs["config"] = "faas.yml"
        case.notes.append(f"config: {note}")

    return [
        ("memory", pick("memory", ["0", "-1", "abc", "1e9", "99999999999999999999", "12 8"] if provider != "gcp" else ["abc", "-1Gi", "1 Gi", "lots"])),
        ("timeout", pick("timeout", ["0", "x", "100000", "-5", "1.5"])),
        ("region", pick("region", ["moon-1", "US_EAST_1", "../x", "eu west 1", INJECTION])),
        ("function-name", pick("function-name", ["", "x" * 100, "bad name!", "../../etc", INJECTION])),
        ("provider", pick("provider", ["lambda", "gcp;rm -rf", "", "aws aws", INJECTION])),
        ("environment", pick("environment", ["A=1\nA=2", "BAD KEY=x", "=x", BOMB, "- a\n- b", "A: 1\nA: 2", "[" * 2000 + "]" * 2000])),
        ("source", pick("source", ["../..", "/etc", "missing-dir", "app/app.py"])),
        ("package", pick("package", ["nope.zip", "notzip.zip", "../outside.zip"])),
        ("config", config),
        ("wait-timeout", pick("wait-timeout", ["0", "-5", "forever", "999999999"])),
        ("dry-run", pick("dry-run", ["yes", "1", "maybe"])),
        ("environment-mode", pick("environment-mode", ["append", "REPLACE!", "none"])),
        ("not for this provider", put(**{other: other_value})),
    ]


def noise_mutations() -> list[Callable[[random.Random, Case], None]]:
    return [
        lambda rng, case: case.inputs.update({"environment": f"TOKEN=secret-{rng.randrange(10**9)}\nMSG=::add-mask::{INJECTED}"}),
        lambda rng, case: case.inputs.update({"environment": "UNICODE=caf\u00e9 \u2603 \u202e"}),
        lambda rng, case: case.files.append(write("app/extra.txt", INJECTION)),
    ]


def generate(seed: int, count: int) -> list[Case]:
    """`count` cases; the first ones use each bad config file in turn, so every kind is run."""
    rng = random.Random(seed)
    cases = []
    for index in range(count):
        provider = rng.choice(sorted(VALID))
        case = Case(provider, dict(VALID[provider]), [write("app/app.py", "def handler(e, c):\n    return 1\n"),
                                                         write("notzip.zip", "not a zip")])
        for mutate in rng.sample(noise_mutations(), rng.randint(0, 2)):  # first: a bad change wins
            mutate(rng, case)
        if index < len(BAD_CONFIGS):
            note, make = BAD_CONFIGS[index]
            case.files.append(make)
            case.inputs["config"] = "faas.yml"
            case.notes.append(f"config: {note}")
        for name, mutate in rng.sample(bad_mutations(provider), rng.randint(0 if case.notes else 1, 2)):
            if name == "config" and "config" in case.inputs:
                continue
            mutate(rng, case)
            case.notes.append(name)
        cases.append(case)
    return cases


def check(case: Case, code: int, stdout: str, stderr: str, recorder: Recorder, where: str) -> None:
    context = f"seed {SEED}, {where}: {case.provider} {case.notes} {case.inputs!r}\n{stdout[-3000:]}\n{stderr[-2000:]}"
    assert code == 1, context
    assert any(line.startswith("::error") for line in stdout.splitlines()), context
    assert "Traceback" not in stdout + stderr, context
    assert recorder.requests == [], context
    commands = issued(stdout)
    assert {c.name for c in commands} <= ACTING_COMMANDS, context
    assert not [c for c in commands if c.data.startswith(INJECTED)], context  # a command the input started
    assert len(stdout) < 1 << 20, context


def prepare(case: Case, root: Path) -> Path:
    workspace = root / "workspace"
    workspace.mkdir(parents=True)
    for make in case.files:
        make(workspace)
    return workspace


@pytest.mark.timeout(600)
def test_generated_bad_inputs_through_the_entrypoint(tmp_path, recorder):
    for index, case in enumerate(generate(SEED, SUBPROCESS_CASES)):
        root = tmp_path / f"case-{index}"
        action = ActionRunner(workspace=prepare(case, root), tmp=root, base_env=recorder.environment())
        result = action.run(case.inputs, timeout=RUN_DEADLINE_S)
        check(case, result.code, result.stdout, result.stderr, recorder, f"subprocess case {index}")


@pytest.mark.timeout(300)  # the deadline: pytest-timeout interrupts even a blocked open()
def test_generated_bad_inputs_in_process(tmp_path, recorder):
    for index, case in enumerate(generate(SEED + 1, IN_PROCESS_CASES)):
        root = tmp_path / f"case-{index}"
        action = ActionRunner(workspace=prepare(case, root), tmp=root, base_env=recorder.environment())
        out = io.StringIO()
        code = main.run(action.env_for(case.inputs), out)
        check(case, code, out.getvalue(), "", recorder, f"in-process case {index}")


def test_the_generator_covers_every_kind_of_bad_input():
    for cases in (generate(SEED, SUBPROCESS_CASES), generate(SEED + 1, IN_PROCESS_CASES)):
        notes = {note for case in cases for note in case.notes}
        assert {name for name, _ in bad_mutations("aws")} <= notes
        assert {f"config: {name}" for name, _ in BAD_CONFIGS} <= notes
        assert all(case.notes for case in cases)


# -- run-time faults the runner contract owns ------------------------------------------------------


def write_app(workspace: Path) -> None:
    (workspace / "app").mkdir(exist_ok=True)
    (workspace / "app" / "app.py").write_text("def handler(event, context):\n    return 'hello'\n")


def create_inputs(name: str, role: str, **extra: str) -> dict[str, str]:
    return {"provider": "aws", "function-name": name, "source": "app", "runtime": "python3.12",
            "handler": "app.handler", "role": role, **extra}


def test_an_unmounted_runner_temp_does_not_fail_packaging(aws_action, workspace, function_name, aws_role, tmp_path):
    # Runners before 2.331 pass the host's RUNNER_TEMP, which does not exist in the container.
    write_app(workspace)
    result = aws_action.run(create_inputs(function_name, aws_role, **{"dry-run": "true"}),
                            env={"RUNNER_TEMP": str(tmp_path / "home" / "runner" / "work" / "_temp")})
    assert result.code == 0, result.stdout + result.stderr
    assert result.outputs["package-size"]


def test_a_newline_in_a_printed_value_starts_no_command(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    description = f"first line\n::warning::{INJECTED}\n::add-mask::{INJECTED}"
    result = aws_action.run(create_inputs(function_name, aws_role, description=description))
    assert result.code == 0, result.stdout
    second = aws_action.run(create_inputs(function_name, aws_role, description="plain", **{"dry-run": "true"}))
    assert second.code == 0, second.stdout
    for run in (result, second):
        commands = issued(run.stdout)
        assert not [c for c in commands if c.data.startswith(INJECTED)], run.stdout
        assert {c.name for c in commands} <= ACTING_COMMANDS
    assert f"::warning::{INJECTED}" in second.stdout  # shown in the plan, but inert


def test_a_secret_quoted_back_by_the_service_is_redacted(aws_action, workspace, function_name, aws_role, lambda_proxy):
    write_app(workspace)
    secret = "s3cr3t-value-from-env-42"
    lambda_proxy.fail("GET", rf"/functions/{function_name}", 400, "InvalidParameterValueException",
                      message=f"value {secret} (json {json.dumps({'v': secret})}) is not allowed", times=50)
    result = aws_action.run(create_inputs(function_name, aws_role, environment=f"API_KEY={secret}"))
    assert result.code == 1, result.stdout
    assert "***" in "\n".join(result.errors), result.stdout
    unmasked = [ln for ln in result.stdout.splitlines() if secret in ln and not ln.startswith("::add-mask::")]
    assert unmasked == [], unmasked
    assert secret not in result.summary and all(secret not in v for v in result.outputs.values())
