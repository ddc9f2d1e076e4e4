"""provider: gcp end to end: entrypoint.py in a subprocess with the runner's environment, its REST
calls against the fake Cloud Functions API, uploads into gcp-storage-emulator."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ActionResult, ActionRunner
from tests.fakes.gcp_fake import STS_TOKEN, FakeGcp, gcp_fake  # noqa: F401 (fixture)
from tests.test_gcp_provider import wif_file

TOKEN = "ya29.e2e-access-token-abcdef0123456789"
PROJECT, REGION = "proj-1", "us-central1"
NAME = f"projects/{PROJECT}/locations/{REGION}/functions/hello"
SERVICE = f"projects/{PROJECT}/locations/{REGION}/services/hello"
SHA = "0123456789abcdef0123456789abcdef01234567"  # the runner fixture's GITHUB_SHA
PUBSUB = "google.cloud.pubsub.topic.v1.messagePublished"

pytestmark = pytest.mark.timeout(60)

BASE = {
    "provider": "gcp",
    "function-name": "hello",
    "region": REGION,
    "project": PROJECT,
    "runtime": "python312",
    "entry-point": "hello",
    "gcp-access-token": TOKEN,
}


@pytest.fixture
def gcp_action(action: ActionRunner, gcp_fake: FakeGcp, workspace: Path) -> ActionRunner:
    (workspace / "main.py").write_text("def hello(request):\n    return 'hello'\n")
    (workspace / "requirements.txt").write_text("functions-framework==3.*\n")
    gcp_fake.require_token = TOKEN
    # NO_GCE_CHECK: should a test reach ADC, fail at once instead of probing a metadata server.
    action.base_env.update({"FAAS_GCP_ENDPOINT": gcp_fake.url, "NO_GCE_CHECK": "true"})
    return action


def uploaded_zip(fake: FakeGcp, request_body: dict) -> bytes:
    return fake.uploaded(request_body["buildConfig"]["source"]["storageSource"]["object"])


def assert_masked(result: ActionResult, secret: str) -> None:
    """The secret is announced with ::add-mask:: before any other output and never printed otherwise."""
    lines = (result.stdout + result.stderr).splitlines()
    mask = f"::add-mask::{secret}"
    assert mask in lines
    assert [line for line in lines if secret in line and line != mask] == []
    first_other = next(i for i, line in enumerate(result.stdout.splitlines()) if not line.startswith("::add-mask::"))
    assert result.stdout.splitlines().index(mask) < first_other or secret == STS_TOKEN
    assert secret not in json.dumps(result.outputs) and secret not in result.summary


def test_create(gcp_action: ActionRunner, gcp_fake: FakeGcp):
    result = gcp_action.run({**BASE, "memory": "512", "labels": "team=web"})
    assert result.code == 0, result.stdout + result.stderr
    function = gcp_fake.functions[NAME]
    assert result.outputs["function-id"] == NAME
    assert result.outputs["url"] == f"https://{REGION}-{PROJECT}.cloudfunctions.net/hello"
    assert result.outputs["version"] == function["serviceConfig"]["revision"]
    assert result.outputs["changed"] == "true"

    create = gcp_fake.calls("POST", "/functions")[-1]
    data = uploaded_zip(gcp_fake, create.body)
    assert result.outputs["code-sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert result.outputs["package-size"] == str(len(data))
    assert create.body["labels"] == {"team": "web", "deployed-sha": SHA, "faas-code-sha256": hashlib.sha256(data).hexdigest()[:63]}
    assert create.body["serviceConfig"]["availableMemory"] == "512Mi"
    assert create.body["environment"] == "GEN_2"
    assert "BUILD: COMPLETE" in result.stdout
    assert "| `hello` | gcp | deployed |" in result.summary
    assert_masked(result, TOKEN)


def test_update_sends_a_minimal_mask_and_keeps_other_settings(gcp_action: ActionRunner, gcp_fake: FakeGcp):
    gcp_fake.add_function(NAME, entry_point="hello", labels={"team": "a", "faas-code-sha256": "0" * 63}, env={"KEEP": "1"},
                          service_config={"timeoutSeconds": 300, "minInstanceCount": 1})
    result = gcp_action.run({**BASE, "memory": "1Gi", "environment": "NEW=value-of-new"})
    assert result.code == 0, result.stdout + result.stderr
    patches = gcp_fake.calls("PATCH")
    assert [p.update_mask for p in patches] == [
        ["buildConfig.source", "serviceConfig.availableMemory", "serviceConfig.environmentVariables", "labels"]
    ]
    function = gcp_fake.functions[NAME]
    assert function["serviceConfig"]["timeoutSeconds"] == 300 and function["serviceConfig"]["minInstanceCount"] == 1
    assert function["serviceConfig"]["environmentVariables"] == {"KEEP": "1", "NEW": "value-of-new", "LOG_EXECUTION_ID": "true"}
    assert function["labels"]["team"] == "a"
    assert result.outputs["changed"] == "true"
    assert result.outputs["version"] == function["serviceConfig"]["revision"] == "hello-00002-" + result.outputs["version"][-3:]
    assert_masked(result, "value-of-new")


def test_same_code_from_a_new_commit_is_a_noop(gcp_action: ActionRunner, gcp_fake: FakeGcp):
    first = gcp_action.run(BASE)
    assert first.code == 0, first.stdout
    writes = len(gcp_fake.writes())
    second = gcp_action.run(BASE, env={"GITHUB_SHA": "fedcba9876543210fedcba9876543210fedcba98"})
    assert second.code == 0, second.stdout + second.stderr
    assert second.outputs["changed"] == "false"
    assert second.outputs["version"] == first.outputs["version"]
    assert second.outputs["code-sha256"] == first.outputs["code-sha256"]
    assert len(gcp_fake.writes()) == writes and gcp_fake.calls("PATCH") == []
    assert "nothing to deploy" in second.stdout


def test_event_trigger_pubsub(gcp_action: ActionRunner, gcp_fake: FakeGcp):
    topic = f"projects/{PROJECT}/topics/orders"
    result = gcp_action.run({**BASE, "event-trigger-type": PUBSUB, "event-trigger-resource": topic,
                             "event-trigger-retry": "true"})
    assert result.code == 0, result.stdout + result.stderr
    trigger = gcp_fake.calls("POST", "/functions")[-1].body["eventTrigger"]
    assert trigger == {"eventType": PUBSUB, "pubsubTopic": topic, "retryPolicy": "RETRY_POLICY_RETRY"}


def test_failed_build(gcp_action: ActionRunner, gcp_fake: FakeGcp):
    gcp_fake.build_failure = "pip install failed: No matching distribution found for nonexistent-pkg"
    result = gcp_action.run(BASE)
    assert result.code == 1, result.stdout + result.stderr
    assert len(result.errors) == 1
    error = result.errors[0]
    assert "No matching distribution found for nonexistent-pkg" in error
    assert "build log: https://console.cloud.google.com/cloud-build/builds;region=us-central1/" in error
    assert "function-id" not in result.outputs
    assert_masked(result, TOKEN)


def test_operation_past_its_deadline(gcp_action: ActionRunner, gcp_fake: FakeGcp):
    gcp_fake.operation_never_done = True
    started = time.monotonic()
    result = gcp_action.run({**BASE, "wait-timeout": "1"})
    assert time.monotonic() - started < 15
    assert result.code == 1, result.stdout + result.stderr
    assert len(result.errors) == 1
    assert "did not finish within 1 s" in result.errors[0]
    assert "BUILD IN_PROGRESS (Building Function)" in result.errors[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_not_active_after_the_deploy(gcp_action: ActionRunner, gcp_fake: FakeGcp):
    gcp_fake.state_after_deploy = "FAILED"
    result = gcp_action.run(BASE)
    assert result.code == 1
    assert len(result.errors) == 1 and "not ACTIVE: ERROR: Revision is not ready" in result.errors[0]


@pytest.mark.parametrize("inputs, count", [
    # config problems, all reported at once
    ({"region": "", "memory": "lots", "labels": "Bad Key=x", "event-trigger-type": PUBSUB, "handler": "a.b"}, 5),
    # provider check() problems, before any call
    ({"labels": "deployed-sha=abc", "environment": "A=1", "secrets": "A=projects/p/secrets/s"}, 2),
])
def test_bad_input(gcp_action: ActionRunner, gcp_fake: FakeGcp, inputs: dict[str, str], count: int):
    result = gcp_action.run({**BASE, **inputs})
    assert result.code == 1, result.stdout + result.stderr
    assert len(result.errors) == count, result.errors
    assert gcp_fake.requests == []


def test_dry_run_makes_no_write(gcp_action: ActionRunner, gcp_fake: FakeGcp):
    gcp_fake.add_function(NAME, entry_point="hello", labels={"faas-code-sha256": "0" * 63})
    result = gcp_action.run({**BASE, "dry-run": "true", "memory": "2Gi", "allow-unauthenticated": "true"})
    assert result.code == 0, result.stdout + result.stderr
    (plan,) = json.loads(result.outputs["plan"])
    assert plan["action"] == "update"
    assert any("update mask: build_config.source, service_config.available_memory, labels" in s for s in plan["steps"])
    assert any("grant roles/run.invoker" in s for s in plan["steps"])
    assert gcp_fake.writes() == [] and gcp_fake.uploads == []
    assert {r.method for r in gcp_fake.requests} == {"GET"}


def test_allow_unauthenticated(gcp_action: ActionRunner, gcp_fake: FakeGcp):
    result = gcp_action.run({**BASE, "allow-unauthenticated": "true"})
    assert result.code == 0, result.stdout + result.stderr
    assert gcp_fake.policy_members(SERVICE) == ["allUsers"]
    set_policy = gcp_fake.calls("POST", ":setIamPolicy")
    assert len(set_policy) == 1 and set_policy[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_gcloudignore_is_honoured(gcp_action: ActionRunner, gcp_fake: FakeGcp, workspace: Path):
    (workspace / ".gcloudignore").write_text("# local only\n.gcloudignore\nsecret.txt\nnode_modules/\n")
    (workspace / "secret.txt").write_text("do not ship")
    (workspace / "node_modules").mkdir()
    (workspace / "node_modules" / "dep.js").write_text("x")
    (workspace / "gha-creds-0123456789abcdef.json").write_text("{}")
    (workspace / ".github" / "workflows").mkdir(parents=True)
    (workspace / ".github" / "workflows" / "ci.yml").write_text("on: push")
    result = gcp_action.run(BASE)
    assert result.code == 0, result.stdout + result.stderr
    data = uploaded_zip(gcp_fake, gcp_fake.calls("POST", "/functions")[-1].body)
    assert sorted(zipfile.ZipFile(io.BytesIO(data)).namelist()) == ["main.py", "requirements.txt"]


def test_workload_identity_federation_credentials(gcp_action: ActionRunner, gcp_fake: FakeGcp, workspace: Path):
    creds = wif_file(workspace / "gha-creds-fedcba9876543210.json", gcp_fake)
    gcp_fake.require_token = STS_TOKEN
    inputs = {k: v for k, v in BASE.items() if k not in ("gcp-access-token", "project")}
    result = gcp_action.run(inputs, env={"GOOGLE_APPLICATION_CREDENTIALS": str(creds), "GOOGLE_CLOUD_PROJECT": PROJECT})
    assert result.code == 0, result.stdout + result.stderr
    assert result.outputs["function-id"] == NAME
    data = uploaded_zip(gcp_fake, gcp_fake.calls("POST", "/functions")[-1].body)
    assert "gha-creds-fedcba9876543210.json" not in zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert_masked(result, STS_TOKEN)


def test_no_credentials(gcp_action: ActionRunner, gcp_fake: FakeGcp):
    inputs = {k: v for k, v in BASE.items() if k != "gcp-access-token"}
    result = gcp_action.run(inputs)
    assert result.code == 1, result.stdout + result.stderr
    assert len(result.errors) == 1 and "google-github-actions/auth" in result.errors[0]
    assert gcp_fake.requests == []


def test_gen1_function_is_refused(gcp_action: ActionRunner, gcp_fake: FakeGcp):
    gcp_fake.add_function(NAME, environment="GEN_1")
    result = gcp_action.run(BASE)
    assert result.code == 1
    assert len(result.errors) == 1 and "1st gen" in result.errors[0]
    assert gcp_fake.writes() == []


# -- what a GCP run loads -----------------------------------------------------------------------


def modules_of_a_gcp_run(gcp_action: ActionRunner, tmp_path: Path) -> list[str]:
    """sys.modules after a create through the fake, in a fresh interpreter (other tests in this
    process may have imported any SDK)."""
    import subprocess
    import sys

    from tests.harness import ROOT
    from tests.test_package_fast import SYS_MODULES_SCRIPT

    modules_out = tmp_path / "modules.json"
    env = gcp_action.env_for(BASE, {"MODULES_OUT": str(modules_out)})
    proc = subprocess.run(
        [sys.executable, "-c", SYS_MODULES_SCRIPT.format(root=str(ROOT))],
        cwd=gcp_action.workspace, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(modules_out.read_text())
    assert report["code"] == 0, proc.stdout
    return report["modules"]


def test_provider_gcp_run_imports_no_other_cloud_sdk(gcp_action: ActionRunner, tmp_path: Path):
    modules = modules_of_a_gcp_run(gcp_action, tmp_path)
    assert "faas_action.providers.gcp.client" in modules and "google.auth.transport.requests" in modules
    others = [m for m in modules if m.split(".")[0] in ("azure", "botocore", "boto3", "yaml")]
    assert others == [], f"provider gcp loaded {others[:10]}"


def test_provider_gcp_run_does_not_load_grpc(gcp_action: ActionRunner, tmp_path: Path):
    """The provider talks REST with google-auth alone: no GAPIC client, no google-api-core, no
    gRPC (~19 MB installed) and no protobuf runtime serve it."""
    modules = modules_of_a_gcp_run(gcp_action, tmp_path)
    assert "faas_action.providers.gcp.apply" in modules  # a create ran, not just an import
    families = ("grpc", "grpc_status", "proto", "google.protobuf", "google.api_core", "google.cloud", "google.longrunning")
    loaded = [m for m in modules if any(m == f or m.startswith(f + ".") for f in families)]
    assert loaded == [], f"a GCP run loaded {loaded[:10]}"
