"""Many functions in one run (issue 11): wall time of N functions with changed code against one.

The Lambda test proxy plays Lambda's lifecycle in real time in front of a local moto server:
after each create or update a function stays busy (Pending / InProgress) for `BUSY` seconds and a
mutation meanwhile gets 409, as the service does. Our action deploys a `functions:` config of N
functions (changed code: update, wait, publish, alias) with `max-parallel: N`, and once more one
after the other (`max-parallel: 1`) for comparison.

Owns: the functions, the config files and the table.
Must not: touch anything but 127.0.0.1, or wait without a timeout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from common import OUT, Series, fmt, ratio, table
from deploy_bench import AWS_ENV, MotoServer, boto
from tests.fakes.lambda_proxy import LambdaProxy
from tests.harness import ENTRYPOINT, ActionRunner, parse_github_output

BUSY = 2.0  # seconds a function stays busy after each change (real Lambda: seconds, more in a VPC)
COUNTS = (1, 8, 32)


class Fleet:
    """N functions per count, each in its own config file, all in one workspace."""

    def __init__(self, proxy_url: str, moto_url: str, scratch: Path) -> None:
        self.workspace = scratch / "workspace"
        (self.workspace / "app").mkdir(parents=True)
        self.role = boto("iam", moto_url).create_role(RoleName="bench-many", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.runner = ActionRunner(workspace=self.workspace, tmp=scratch / "runs")
        self.runner.base_env.update({**AWS_ENV, "AWS_ENDPOINT_URL": proxy_url})
        for count in COUNTS:
            names = "".join(f"  - function-name: many-{count}-{i}\n" for i in range(count))
            (self.workspace / f"fleet-{count}.yml").write_text(
                f"provider: aws\nsource: app\nruntime: python3.12\nhandler: app.handler\nrole: {self.role}\n"
                f"alias: live\nfunctions:\n{names}"
            )

    def change_code(self, marker: str) -> None:
        (self.workspace / "app" / "app.py").write_text(f"# {marker}\ndef handler(event, context):\n    return {marker!r}\n")

    def deploy(self, count: int, max_parallel: int) -> float:
        env = self.runner.env_for({"config": f"fleet-{count}.yml", "max-parallel": str(max_parallel)})
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(ENTRYPOINT)], cwd=self.workspace, env=env, capture_output=True,
                              text=True, timeout=900, stdin=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"action exited {proc.returncode}: {(proc.stdout + proc.stderr)[-400:]}")
        outputs = parse_github_output(Path(env["GITHUB_OUTPUT"]).read_text())
        if '"status": "deployed"' not in outputs.get("results", "") or '"failed"' in outputs["results"]:
            raise RuntimeError(f"not every function deployed: {outputs.get('results', '')[:300]}")
        return elapsed


def measure(rounds: int, log: Callable[[str], None]) -> str:
    scratch = OUT / "parallel"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    cases = [(1, 1)] + [(count, count) for count in COUNTS[1:]] + [(8, 1)]
    series = {case: Series() for case in cases}
    with MotoServer() as moto:
        proxy = LambdaProxy(moto.url).start()
        try:
            fleet = Fleet(proxy.url, moto.url, scratch)
            fleet.change_code("initial")
            for count in COUNTS:  # create every function once, untimed (with the lifecycle off)
                fleet.deploy(count, count)
            proxy.lifecycle(BUSY)
            for index in range(rounds):
                order = cases if index % 2 == 0 else cases[::-1]
                for case in order:
                    fleet.change_code(f"round {index} case {case}")  # every deploy has changed code
                    series[case].record(lambda: fleet.deploy(*case))
                log(f"parallel round {index + 1}/{rounds}: " + ", ".join(
                    f"{c}x{p}: {s.values[-1]:.1f}s" for (c, p), s in series.items() if s.values))
        finally:
            proxy.stop()
    one = series[(1, 1)].median
    rows = [
        ["1 function", "1", fmt(one, 1), "1.00x", ""],
        ["8 functions", "8", fmt(series[(8, 8)].median, 1), ratio(series[(8, 8)].median, one), "≤ 2x"],
        ["32 functions", "32", fmt(series[(32, 32)].median, 1), ratio(series[(32, 32)].median, one), "≤ 5x"],
        ["8 functions, one after the other", "1", fmt(series[(8, 1)].median, 1), ratio(series[(8, 1)].median, one), "(before: 6.7x)"],
    ]
    failed = [f"- {c} functions, max-parallel {p}: {len(s.failures)} failed round(s), first: {s.failures[0]}"
              for (c, p), s in series.items() if s.failures]
    return "\n".join([table(["changed code, each change busy for 2 s", "max-parallel", "s (median)", "vs one", "target"], rows), *failed])
