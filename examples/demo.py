"""`make demo`: see the action deploy without a cloud account.

Starts moto's Lambda server on 127.0.0.1, then runs entrypoint.py exactly as a GitHub runner
would (inputs as INPUT_* variables, outputs read back from $GITHUB_OUTPUT) three times against
examples/hello-python: a create, an update after a code change, and a no-op redeploy.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from tests.harness import ActionRunner, free_port  # noqa: E402

CREDENTIALS = {"aws_access_key_id": "demo", "aws_secret_access_key": "demo-secret", "region_name": "us-east-1"}


def show(title: str, result) -> None:
    print(f"\n=== {title}: exit {result.code}")
    for line in result.stdout.splitlines():
        if not line.startswith("::add-mask::"):
            print(f"    {line}")
    print("  outputs:")
    for name in ("function-id", "version", "version-id", "alias-id", "changed", "code-sha256", "package-size"):
        print(f"    {name:13} = {result.outputs.get(name, '')}")
    if result.code != 0:
        print(result.stderr)
        raise SystemExit(result.code)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    scratch = Path(tempfile.mkdtemp(prefix="faas-demo-"))
    try:
        workspace = scratch / "workspace"
        shutil.copytree(ROOT / "examples" / "hello-python", workspace / "hello-python")
        role = boto3.client("iam", endpoint_url=endpoint, **CREDENTIALS).create_role(
            RoleName="demo-lambda-role", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        runner = ActionRunner(workspace=workspace, tmp=scratch)
        runner.base_env.update({
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "AWS_REGION": CREDENTIALS["region_name"],
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        inputs = {
            "provider": "aws",
            "function-name": "hello-python",
            "source": "hello-python",
            "runtime": "python3.12",
            "handler": "app.handler",
            "role": role,
            "alias": "live",
            "environment": "GREETING=hello from faas-action",
        }
        print(f"moto Lambda server on {endpoint}; workspace {workspace}")
        show("1. create", runner.run(inputs))
        app = workspace / "hello-python" / "app.py"
        app.write_text(app.read_text().replace('"hello"', '"hello again"'))
        show("2. update (code changed)", runner.run(inputs))
        show("3. redeploy, nothing changed (no-op)", runner.run(inputs))
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
