#!/usr/bin/env python3
"""GCP start-up: what a `provider: gcp` run costs before its first request, and what it loads.

    .venv/bin/python bench/gcp_startup.py --rounds 7

Owns: three figures, each the median of `--rounds` fresh interpreters, rounds interleaved:
- `python -X importtime -c "import faas_action.providers.gcp"`: the cumulative import time the
  interpreter reports for the provider package (bytecode precompiled, as in the image);
- the wall time of that import measured around it (perf_counter), and how many modules it loads
  (and whether grpc is among them);
- a no-op `provider: gcp` run of entrypoint.py with the runner's environment against the fake
  Cloud Functions API (tests/fakes/gcp_fake.py) behind a recording proxy: seconds from spawning
  the process to the first request reaching the proxy, and the whole run.
Must not: touch anything but 127.0.0.1, wait without a timeout, or write docs/benchmarks.md (the
figures are pasted by hand into its notes).
"""

from __future__ import annotations

import argparse
import compileall
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, ROOT, Series, fmt, table  # noqa: E402
from deploy_bench import RecordingProxy  # noqa: E402
from tests.fakes.gcp_fake import UPLOAD_BUCKET, FakeGcp, storage_emulator_url  # noqa: E402
from tests.harness import ENTRYPOINT, ActionRunner, parse_github_output  # noqa: E402

MODULE = "faas_action.providers.gcp"
TOKEN = "ya29.bench-access-token-0123456789"
INPUTS = {
    "provider": "gcp", "function-name": "bench", "region": "us-central1", "project": "proj-1",
    "runtime": "python312", "entry-point": "hello", "gcp-access-token": TOKEN,
}
IMPORT_SCRIPT = """
import json, sys, time
start = time.perf_counter()
import {module}
elapsed = time.perf_counter() - start
families = ("grpc", "google.protobuf", "proto", "google.api_core", "google.cloud")
counts = {{f: sum(m == f or m.startswith(f + ".") for m in sys.modules) for f in families}}
print(json.dumps({{"s": elapsed, "modules": len(sys.modules), "families": {{f: n for f, n in counts.items() if n}}}}))
"""


def importtime_s() -> float:
    """The cumulative import time `-X importtime` reports for the provider package, in seconds."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {MODULE}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, check=True)
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)$", line)
        if match and match.group(2) == MODULE:
            return int(match.group(1)) / 1e6
    raise RuntimeError(f"{MODULE} not in the -X importtime report")


def wall_import(extra: dict) -> float:
    proc = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT.format(module=MODULE)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, check=True)
    report = json.loads(proc.stdout)
    extra.update(modules=report["modules"], families=report["families"])
    return report["s"]


def measure(rounds: int) -> str:
    scratch = OUT / "gcp-startup"
    shutil.rmtree(scratch, ignore_errors=True)
    workspace = scratch / "workspace"
    workspace.mkdir(parents=True)
    (workspace / "main.py").write_text("def hello(request):\n    return 'hello'\n")
    (workspace / "requirements.txt").write_text("functions-framework==3.*\n")
    compileall.compile_dir(ROOT / "faas_action", quiet=1)  # as the image does

    imports, walls, first, whole = Series(), Series(), Series(), Series()
    fake = FakeGcp(storage_emulator_url(), UPLOAD_BUCKET).start()
    try:
        runner = ActionRunner(workspace=workspace, tmp=scratch / "runs")
        runner.base_env.update({"FAAS_GCP_ENDPOINT": fake.url, "NO_GCE_CHECK": "true"})

        def action(env: dict[str, str] | None = None, expect_changed: bool = False) -> float:
            environment = runner.env_for(INPUTS, env)
            started = time.time()
            proc = subprocess.run([sys.executable, str(ENTRYPOINT)], cwd=workspace, env=environment, capture_output=True,
                                  text=True, timeout=120, stdin=subprocess.DEVNULL)
            ended = time.time()
            changed = parse_github_output(Path(environment["GITHUB_OUTPUT"]).read_text()).get("changed")
            if proc.returncode != 0 or changed != ("true" if expect_changed else "false"):
                raise RuntimeError(f"run exited {proc.returncode}, changed={changed}: {(proc.stdout + proc.stderr)[-400:]}")
            if not expect_changed:
                whole.values.append(ended - started)
            return started

        action(expect_changed=True)  # create the function (and warm the page cache), untimed
        with RecordingProxy(int(fake.url.rsplit(":", 1)[1])) as proxy:

            def first_request() -> float:
                proxy.first = None
                started = action({"FAAS_GCP_ENDPOINT": proxy.url})
                if proxy.first is None:
                    raise RuntimeError("no request reached the proxy")
                return proxy.first - started

            for _ in range(rounds):
                imports.record(importtime_s)
                walls.record(lambda: wall_import(walls.extra))
                first.record(first_request)
    finally:
        fake.stop()

    rows = [
        [f"`python -X importtime -c 'import {MODULE}'`: cumulative for the package", fmt(imports.median, 3)],
        [f"`import {MODULE}` in a fresh interpreter, wall (loads {walls.extra.get('modules', '?')} modules in all; "
         f"of them grpc, protobuf, proto-plus, google.api_core, google.cloud: "
         f"{', '.join(f'{k} {v}' for k, v in walls.extra.get('families', {}).items()) or 'none'})", fmt(walls.median, 3)],
        ["`provider: gcp` no-op run: process start → first request to the API", fmt(first.median, 3)],
        ["the whole no-op run (same runs)", fmt(whole.median, 3)],
    ]
    failed = [f"- {name}: {s.failures[0]}" for name, s in (("importtime", imports), ("import", walls), ("first", first)) if s.failures]
    return "\n".join([table([f"GCP start-up ({rounds} rounds, bytecode precompiled)", "s (median)"], rows), *failed])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    print(measure(max(1, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
