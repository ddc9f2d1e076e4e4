"""The runner harness: runs entrypoint.py in a subprocess with the environment a GitHub runner
gives a container action (every declared input with its default, file-command paths, GITHUB_*),
then reads `$GITHUB_OUTPUT` back exactly as the runner parses it. Used by the tests, the demo
and the benchmark.
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "entrypoint.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def action_inputs() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]


def parse_github_output(text: str) -> dict[str, str]:
    """Parse `$GITHUB_OUTPUT` exactly as the runner does: NAME=VALUE or NAME<<DELIM heredocs."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line.split("=", 1)
            outputs[name] = value
            continue
        if heredoc < 0:
            raise AssertionError(f"Invalid format '{line}'")
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        body = []
        while True:
            if index >= len(lines):
                raise AssertionError(f"Matching delimiter not found '{delimiter}'")
            current = lines[index]
            index += 1
            if current == delimiter:
                break
            body.append(current)
        outputs[name] = "\n".join(body)
    return outputs


@dataclass
class ActionResult:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    @property
    def errors(self) -> list[str]:
        return [ln for ln in self.stdout.splitlines() if ln.startswith("::error")]


@dataclass
class ActionRunner:
    """Runs entrypoint.py in a subprocess with the environment a runner would give it."""

    workspace: Path
    tmp: Path
    base_env: dict[str, str] = field(default_factory=dict)

    def env_for(self, inputs: dict[str, str], env: dict[str, str] | None = None) -> dict[str, str]:
        declared = action_inputs()
        unknown = set(inputs) - set(declared)
        assert not unknown, f"test uses undeclared inputs: {unknown}"
        run_dir = self.tmp / f"run-{uuid.uuid4().hex[:8]}"
        (run_dir / "file_commands").mkdir(parents=True)
        (run_dir / "runner_temp").mkdir()
        output = run_dir / "file_commands" / "set_output"
        summary = run_dir / "file_commands" / "step_summary"
        output.touch()
        summary.touch()
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(run_dir),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "RUNNER_TEMP": str(run_dir / "runner_temp"),
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REPOSITORY": "octo/app",
            "GITHUB_RUN_ID": "42",
            "GITHUB_SERVER_URL": "https://github.com",
        }
        for key in ("PYTHONDONTWRITEBYTECODE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
            if key in os.environ:
                environment[key] = os.environ[key]
        for name, decl in declared.items():
            environment["INPUT_" + name.replace(" ", "_").upper()] = str(decl.get("default", ""))
        for name, value in inputs.items():
            environment["INPUT_" + name.replace(" ", "_").upper()] = value
        environment.update(self.base_env)
        environment.update(env or {})
        return environment

    def start(self, inputs: dict[str, str], env: dict[str, str] | None = None) -> "RunningAction":
        """Start entrypoint.py without waiting for it (to signal it, or act while it runs)."""
        environment = self.env_for(inputs, env)
        proc = subprocess.Popen(
            [sys.executable, str(ENTRYPOINT)],
            cwd=self.workspace,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        return RunningAction(proc, environment)

    def run(self, inputs: dict[str, str], env: dict[str, str] | None = None, timeout: float = 120) -> ActionResult:
        environment = self.env_for(inputs, env)
        proc = subprocess.run(
            [sys.executable, str(ENTRYPOINT)],
            cwd=self.workspace,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        output_text = Path(environment["GITHUB_OUTPUT"]).read_text()
        summary_text = Path(environment["GITHUB_STEP_SUMMARY"]).read_text()
        return ActionResult(proc.returncode, proc.stdout, proc.stderr, parse_github_output(output_text), summary_text)


class RunningAction:
    """A running entrypoint.py: wait for a line of its output, signal it, collect its result."""

    def __init__(self, proc: subprocess.Popen, environment: dict[str, str]) -> None:
        self.proc = proc
        self.environment = environment
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(proc.stdout, self._new), daemon=True),
            threading.Thread(target=lambda: self._stderr.append(proc.stderr.read()), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: "queue.Queue[str | None]") -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first line (from now on) that contains `text`; fails after `timeout` seconds."""
        end = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} within {timeout} s:\n" + "\n".join(self.lines)) from None
            if line is None:
                self._new.put(None)
                raise AssertionError(f"the action ended without printing {text!r}:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if text in line:
                return line

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 120) -> ActionResult:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        for reader in self._readers:
            reader.join(timeout=10)
        while True:
            line = self._new.get()
            if line is None:
                break
            self.lines.append(line)
        output_text = Path(self.environment["GITHUB_OUTPUT"]).read_text()
        summary_text = Path(self.environment["GITHUB_STEP_SUMMARY"]).read_text()
        stdout = "\n".join(self.lines) + ("\n" if self.lines else "")
        return ActionResult(self.proc.returncode, stdout, "".join(self._stderr), parse_github_output(output_text), summary_text)
