"""What the release step costs a plain deploy: a no-op AWS redeploy with an alias (the release
step then moves nothing and reads the function's metrics: one GetMetricData) by this tree against
another git ref (default `main`), interleaved rounds, medians, against one local moto server.

Run: `.venv/bin/python bench/release_overhead.py [--ref main] [--rounds 15]`.
Owns: its moto server process, a scratch copy of the ref (git archive), the function.
Must not: touch anything but 127.0.0.1, or wait without a timeout.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT
from tests.harness import ActionRunner, free_port

ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", default="main", help="the git ref to compare with (default main)")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="release-overhead-"))
    # Both trees side by side in the same scratch directory: where the code lies matters (a
    # worktree on another filesystem imported ~80 ms slower here than the same code in /tmp).
    other, this = scratch / "other", scratch / "this"
    other.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.ref], check=True, capture_output=True, timeout=60).stdout
    subprocess.run(["tar", "-x", "-C", str(other)], input=archive, check=True, timeout=60)
    shutil.copytree(ROOT / "faas_action", this / "faas_action", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "entrypoint.py", this / "entrypoint.py")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(other / "faas_action"), str(this / "faas_action")], check=True, timeout=120)

    port = free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto did not start within 60 s") from None
                time.sleep(0.1)
        import boto3

        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        workspace = scratch / "workspace"
        (workspace / "app").mkdir(parents=True)
        (workspace / "app" / "app.py").write_text("def handler(event, context):\n    return 1\n")
        runner = ActionRunner(workspace=workspace, tmp=scratch, base_env={**ENV, "AWS_ENDPOINT_URL": url})
        inputs = {"provider": "aws", "function-name": "bench", "source": "app", "runtime": "python3.12",
                  "handler": "app.handler", "role": role, "alias": "live"}
        assert runner.run(inputs).code == 0
        trees = {args.ref: other, "this tree": this}
        seconds: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                env = runner.env_for(inputs)
                started = time.perf_counter()
                done = subprocess.run([sys.executable, str(tree / "entrypoint.py")], cwd=workspace, env=env,
                                      capture_output=True, text=True, timeout=120)
                seconds[name].append(time.perf_counter() - started)
                assert done.returncode == 0, done.stdout
        medians = {name: statistics.median(values) for name, values in seconds.items()}
        print(f"no-op AWS redeploy with an alias, median of {args.rounds} interleaved rounds:")
        for name, value in medians.items():
            print(f"  {name}: {value:.3f} s")
        print(f"  ratio this tree / {args.ref}: {medians['this tree'] / medians[args.ref]:.2f}")
    finally:
        moto.terminate()
        moto.wait(timeout=30)


if __name__ == "__main__":
    main()
