"""Deploy and start-up figures: our action against the `run:` script a user would write, both
against the same local moto server.

Owns: the moto server process, the two functions (one per contender, same code), the awscli
script (zip -r, update-function-code, wait function-updated-v2, publish-version, update-alias),
a recording proxy that timestamps the first API call of a run, and their tables.
Must not: touch anything but 127.0.0.1, or wait without a timeout.
"""

from __future__ import annotations

import compileall
import http.client
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from common import OUT, Series, fmt, ratio, run, table, timed
from tests.harness import ENTRYPOINT, ActionRunner, free_port, parse_github_output

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}
ALIAS = "live"
CLI_SCRIPT = """set -euo pipefail
cd "$SOURCE"
rm -f "$ZIP"
zip -r -q "$ZIP" .
aws lambda update-function-code --function-name "$FUNCTION" --zip-file "fileb://$ZIP" > /dev/null
aws lambda wait function-updated-v2 --function-name "$FUNCTION"
VERSION=$(aws lambda publish-version --function-name "$FUNCTION" --query Version --output text)
aws lambda update-alias --function-name "$FUNCTION" --name live --function-version "$VERSION" > /dev/null
"""


class MotoServer:
    """`python -m moto.server` on a free port of 127.0.0.1, in its own process (so neither
    contender shares an interpreter with it)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "MotoServer":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("moto server exited at start")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("moto server did not start within 60 s")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class RecordingProxy:
    """Forwards every request to moto and notes when the first one of a run arrived."""

    def __init__(self, upstream_port: int) -> None:
        proxy = self
        self.first: float | None = None

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                if proxy.first is None:
                    proxy.first = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
                    reply = upstream.getresponse()
                    data = reply.read()
                finally:
                    upstream.close()
                self.send_response(reply.status)
                for key, value in reply.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "RecordingProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_function(source: Path, round_marker: str) -> None:
    """A small Python function: a handler and a few modules (about 100 KB); the marker changes the code."""
    (source / "lib").mkdir(parents=True, exist_ok=True)
    (source / "app.py").write_text(f"from lib import util_00\n\n# {round_marker}\ndef handler(event, context):\n    return util_00.VALUE\n")
    for index in range(20):
        body = "".join(f"def helper_{index}_{n}(value):\n    '''Return value scaled by {n}.'''\n    return value * {n}\n\n" for n in range(60))
        (source / "lib" / f"util_{index:02d}.py").write_text(f"VALUE = {index}\n\n{body}")
    (source / "lib" / "__init__.py").write_text("")


def boto(service: str, endpoint: str):
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"])


class Contenders:
    """Our action and the awscli script, each with its own function and source folder."""

    def __init__(self, moto: str, scratch: Path) -> None:
        self.moto = moto
        self.scratch = scratch
        self.role = boto("iam", moto).create_role(RoleName="bench-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.ours_ws = scratch / "ours-workspace"
        self.cli_src = scratch / "cli-source"
        write_function(self.ours_ws / "app", "initial")
        write_function(self.cli_src, "initial")
        self.runner = ActionRunner(workspace=self.ours_ws, tmp=scratch / "runs")
        self.runner.base_env.update({**AWS_ENV, "AWS_ENDPOINT_URL": moto})
        lam = boto("lambda", moto)
        zipped = scratch / "initial.zip"
        run(["zip", "-r", "-q", str(zipped), "."], timeout=60, cwd=self.cli_src)
        for name in ("bench-ours", "bench-cli"):
            lam.create_function(FunctionName=name, Runtime="python3.12", Role=self.role, Handler="app.handler",
                                Code={"ZipFile": zipped.read_bytes()}, Publish=True)
        lam.create_alias(FunctionName="bench-cli", Name=ALIAS, FunctionVersion="1")
        self.cli_env = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(scratch),
            "LANG": "C.UTF-8",
            **AWS_ENV,
            "AWS_ENDPOINT_URL": moto,
            "SOURCE": str(self.cli_src),
            "ZIP": str(scratch / "cli.zip"),
            "FUNCTION": "bench-cli",
        }

    def inputs(self) -> dict[str, str]:
        return {"provider": "aws", "function-name": "bench-ours", "source": "app", "alias": ALIAS}

    def change_code(self, marker: str) -> None:
        write_function(self.ours_ws / "app", marker)
        write_function(self.cli_src, marker)

    def ours(self, expect_changed: bool) -> float:
        """entrypoint.py with the runner's environment; only the process itself is timed."""
        env = self.runner.env_for(self.inputs())
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(ENTRYPOINT)], cwd=self.ours_ws, env=env, capture_output=True,
                              text=True, timeout=300, stdin=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"action exited {proc.returncode}: {(proc.stdout + proc.stderr)[-400:]}")
        changed = parse_github_output(Path(env["GITHUB_OUTPUT"]).read_text()).get("changed")
        if changed != ("true" if expect_changed else "false"):
            raise RuntimeError(f"action reported changed={changed!r}, expected {expect_changed}")
        return elapsed

    def script(self) -> float:
        return timed(lambda: run(["bash", "-c", CLI_SCRIPT], timeout=300, env=self.cli_env))


def measure(rounds: int, log: Callable[[str], None]) -> tuple[str, str]:
    """The deploy table and the start-up table."""
    scratch = OUT / "deploy"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    # The image compiles the package's bytecode at build time (Dockerfile); so does the bench,
    # else every run would compile the sources again (PYTHONDONTWRITEBYTECODE is passed on).
    compileall.compile_dir(ENTRYPOINT.parent / "faas_action", quiet=1)
    series = {name: Series() for name in ("ours-changed", "script-changed", "ours-noop", "script-noop")}
    startup, startup_total, bare = Series(), Series(), Series()
    with MotoServer() as moto:
        bench = Contenders(moto.url, scratch)
        bench.change_code("warm-up")  # warm the page cache and moto for both, untimed
        bench.ours(expect_changed=True)
        bench.script()
        for index in range(rounds):
            bench.change_code(f"round {index}")
            steps = [
                ("ours-changed", lambda: bench.ours(expect_changed=True)),
                ("script-changed", bench.script),
            ]
            for name, step in steps if index % 2 == 0 else steps[::-1]:
                series[name].record(step)
            steps = [("ours-noop", lambda: bench.ours(expect_changed=False)), ("script-noop", bench.script)]
            for name, step in steps if index % 2 == 0 else steps[::-1]:
                series[name].record(step)
            log(f"deploy round {index + 1}/{rounds}: " + ", ".join(f"{n} {s.values[-1]:.2f}s" for n, s in series.items() if s.values))

        with RecordingProxy(moto.port) as proxy:

            def first_call() -> float:
                """A no-op run through the proxy: seconds from spawning the process to its first request."""
                env = bench.runner.env_for(bench.inputs(), {"AWS_ENDPOINT_URL": proxy.url})
                proxy.first = None
                started = time.time()
                proc = subprocess.run([sys.executable, str(ENTRYPOINT)], cwd=bench.ours_ws, env=env,
                                      capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
                startup_total.values.append(time.time() - started)
                if proc.returncode != 0 or proxy.first is None:
                    raise RuntimeError(f"run exited {proc.returncode}, first call {proxy.first}")
                return proxy.first - started

            for _ in range(rounds):
                startup.record(first_call)
                bare.record(lambda: timed(lambda: run([sys.executable, "-c", "pass"], timeout=60)))
            log(f"start-up: {[round(v, 3) for v in startup.values]}")

    script_changed = series["script-changed"].median
    script_noop = series["script-noop"].median
    deploy_rows = [
        ["awscli script (`zip -r`, update-function-code, wait function-updated-v2, publish-version, update-alias)",
         fmt(script_changed), "1.00x", "target"],
        ["**ours**: changed code (package, plan, update, wait, publish, alias)", fmt(series["ours-changed"].median),
         ratio(series["ours-changed"].median, script_changed), "≤ 0.30x"],
        ["awscli script, nothing changed (a script cannot tell)", fmt(script_noop), "1.00x", ""],
        ["**ours**: no-op redeploy (package, plan, nothing to do)", fmt(series["ours-noop"].median),
         ratio(series["ours-noop"].median, script_noop), "≤ 0.15x"],
    ]
    failed = [f"- {name}: {len(s.failures)} failed round(s), first: {s.failures[0]}" for name, s in series.items() if s.failures]
    deploy = "\n".join([table(["AWS deploy against local moto", "s (median)", "vs script", ""], deploy_rows), *failed])
    startup_rows = [
        ["`python -c pass` (interpreter alone)", fmt(bare.median, 3)],
        ["**ours**, `provider: aws`: process start → first Lambda API call", fmt(startup.median, 3)],
        ["ours, the whole no-op run (same runs)", fmt(startup_total.median, 3)],
    ]
    failed = [f"- start-up: {len(startup.failures)} failed round(s), first: {startup.failures[0]}"] if startup.failures else []
    return deploy, "\n".join([table(["start-up", "s (median)"], startup_rows), *failed])
