"""The GCP provider in-process: its REST calls (JSON over google-auth's AuthorizedSession) against
the fake Cloud Functions API, specs parsed by config.load, packages built by package.build, and a
fake clock so that every wait is exact and instant."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from faas_action import config, package
from faas_action.errors import CredentialsError, DeadlineError, InputError, ProviderError
from faas_action.models import Artifact, FunctionSpec, GitHubContext, Plan
from faas_action.providers import gcp
from faas_action.providers.base import ListLog, RunContext
from tests.fakes.gcp_fake import STS_TOKEN, FakeGcp, gcp_fake  # noqa: F401 (fixture)

TOKEN = "ya29.test-access-token-0123456789"
PROJECT, REGION = "proj-1", "us-central1"
NAME = f"projects/{PROJECT}/locations/{REGION}/functions/fn"
SERVICE = f"projects/{PROJECT}/locations/{REGION}/services/fn"
SHA = "0123456789abcdef0123456789abcdef01234567"
PUBSUB = "google.cloud.pubsub.topic.v1.messagePublished"

pytestmark = pytest.mark.timeout(30)  # every wait is on a fake clock: anything slow is a hang


class FakeClock:
    """Time moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    @property
    def slept(self) -> float:
        return sum(self.sleeps)


def camel(path: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), path)


@dataclass
class Harness:
    fake: FakeGcp
    workspace: Path
    tmp: Path
    clock: FakeClock = field(default_factory=FakeClock)
    log: ListLog = field(default_factory=ListLog)

    def spec(self, environ: dict[str, str] | None = None, **inputs: str) -> FunctionSpec:
        raw = {"provider": "gcp", "function-name": "fn", "region": REGION, "project": PROJECT,
               "gcp-access-token": TOKEN}
        raw.update({k.replace("_", "-"): v for k, v in inputs.items()})
        raw = {k: v for k, v in raw.items() if v is not None}
        env = {"FAAS_GCP_ENDPOINT": self.fake.url, **(environ or {})}
        cfg = config.load(raw, env, self.workspace, GitHubContext(sha=SHA, repository="octo/app", run_id="7"))
        assert not cfg.problems, cfg.problems
        return cfg.specs[0]

    def artifact(self, spec: FunctionSpec) -> Artifact:
        assert spec.source is not None
        return package.build(spec.source, self.workspace, gcp.IGNORE_FILE, gcp.DEFAULT_IGNORES, out_dir=self.tmp)

    def connect(self, spec: FunctionSpec, environ: dict[str, str] | None = None) -> gcp.GcpProvider:
        ctx = RunContext(log=self.log, clock=self.clock, environ=environ or {}, github=spec.github)
        return gcp.connect(spec, ctx)

    def plan(self, **inputs: str) -> tuple[gcp.GcpProvider, FunctionSpec, Artifact, Plan]:
        spec = self.spec(**inputs)
        artifact = self.artifact(spec)
        provider = self.connect(spec)
        return provider, spec, artifact, provider.plan(spec, artifact)

    def deploy(self, **inputs: str):
        provider, spec, artifact, plan = self.plan(**inputs)
        return plan, provider.apply(plan, spec, artifact)

    def code_hex(self) -> str:
        return self.artifact(self.spec()).sha256_hex[:63]

    def seed(self, same_code: bool = True, labels: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
        own = {gcp.CODE_LABEL: self.code_hex() if same_code else "0" * 63}
        return self.fake.add_function(NAME, labels={**own, **(labels or {})}, **kwargs)


@pytest.fixture
def gcp_env(gcp_fake: FakeGcp, workspace: Path, tmp_path: Path) -> Harness:
    (workspace / "main.py").write_text("def handler(request):\n    return 'ok'\n")
    (workspace / "requirements.txt").write_text("functions-framework==3.*\n")
    gcp_fake.require_token = TOKEN
    out = tmp_path / "out"
    out.mkdir()
    return Harness(gcp_fake, workspace, out)


# -- plan: the update mask names only what the user gave and what differs ------------------------

SEED_KEEP = {"env": {"KEEP": "1"}, "labels": {"team": "a"}}
UPDATE_CASES = [
    # (id, seed overrides, inputs, expected mask)
    ("nothing given", {}, {}, ()),
    ("same memory spelled differently", {"service_config": {"availableMemory": "1Gi"}}, {"memory": "1024Mi"}, ()),
    ("memory", {}, {"memory": "512Mi"}, ("service_config.available_memory", "labels")),
    ("memory in MB", {}, {"memory": "512"}, ("service_config.available_memory", "labels")),
    ("timeout", {}, {"timeout": "120"}, ("service_config.timeout_seconds", "labels")),
    ("same timeout", {}, {"timeout": "60"}, ()),
    ("env merged", {}, {"environment": "NEW=2"}, ("service_config.environment_variables", "labels")),
    ("env already there", {}, {"environment": "KEEP=1"}, ()),
    ("env replace keeps the platform's variable", {}, {"environment": "KEEP=1", "environment_mode": "replace"}, ()),
    ("env replace drops others", {}, {"environment": "OTHER=1", "environment_mode": "replace"},
     ("service_config.environment_variables", "labels")),
    ("same label", {}, {"labels": "team=a"}, ()),
    ("label changed", {}, {"labels": "team=b"}, ("labels",)),
    ("min instances cleared", {"service_config": {"minInstanceCount": 2}}, {"min_instances": "0"},
     ("service_config.min_instance_count", "labels")),
    ("ingress", {}, {"ingress": "ALLOW_INTERNAL_ONLY"}, ("service_config.ingress_settings", "labels")),
    ("same ingress", {}, {"ingress": "allow_all"}, ()),
    ("description", {}, {"description": "hello"}, ("description", "labels")),
    ("runtime", {}, {"runtime": "python313"}, ("build_config.runtime", "labels")),
    ("same runtime and entry point", {}, {"runtime": "python312", "entry_point": "handler"}, ()),
    ("build env", {}, {"build_environment": "GOOGLE_NODE_RUN_SCRIPTS="}, ("build_config.environment_variables", "labels")),
    ("a plain variable becomes a secret", {}, {"secrets": "KEEP=projects/p/secrets/s"},
     ("service_config.environment_variables", "service_config.secret_environment_variables", "labels")),
    ("service account", {}, {"service_account": "run@proj-1.iam.gserviceaccount.com"},
     ("service_config.service_account_email", "labels")),
]


@pytest.mark.parametrize("seed, inputs, mask", [c[1:] for c in UPDATE_CASES], ids=[c[0] for c in UPDATE_CASES])
def test_update_mask_is_minimal_and_a_redeploy_is_then_a_noop(gcp_env: Harness, seed, inputs, mask):
    gcp_env.seed(labels=SEED_KEEP["labels"], env=SEED_KEEP["env"], **{"service_config": seed.get("service_config")})
    before = json.loads(json.dumps(gcp_env.fake.functions[NAME]))
    plan, result = gcp_env.deploy(**inputs)

    assert plan.state.update_mask == mask
    assert plan.action == ("update" if mask else "none")
    assert result.changed is bool(mask)
    patches = gcp_env.fake.calls("PATCH")
    if not mask:
        assert gcp_env.fake.writes() == []
        assert result.version == before["serviceConfig"]["revision"]
        return
    assert [p.update_mask for p in patches] == [[camel(p) for p in mask]]
    after = gcp_env.fake.functions[NAME]
    # settings not given keep the values they had (nothing reset to a default)
    for key in ("timeoutSeconds", "maxInstanceCount", "ingressSettings", "serviceAccountEmail", "availableMemory"):
        if not any(camel(p).endswith(key) for p in mask):
            assert after["serviceConfig"].get(key) == before["serviceConfig"].get(key), key
    assert after["labels"]["team"] == inputs.get("labels", "team=a").split("=")[1]
    assert after["labels"]["deployed-sha"] == SHA
    assert result.version == after["serviceConfig"]["revision"] != before["serviceConfig"]["revision"]
    # The same inputs once more: nothing left to do.
    again, _ = gcp_env.deploy(**inputs)
    assert again.action == "none", again.changes


def test_env_merge_keeps_variables_set_elsewhere_and_never_shows_values(gcp_env: Harness):
    gcp_env.seed(env={"KEEP": "1", "OLD": "x"})
    plan, _ = gcp_env.deploy(environment="NEW=secret-value\nOLD=y")
    env = gcp_env.fake.functions[NAME]["serviceConfig"]["environmentVariables"]
    assert env == {"KEEP": "1", "OLD": "y", "NEW": "secret-value", "LOG_EXECUTION_ID": "true"}
    assert "secret-value" not in json.dumps(plan.to_dict())
    assert {"field": "service_config.environment_variables", "old": None, "new": {"changed keys": ["NEW", "OLD"]}} in plan.to_dict()["changes"]


def test_secrets_are_sent_as_secret_env_vars(gcp_env: Harness):
    gcp_env.seed(env={"API_KEY": "plain"})
    gcp_env.deploy(secrets="API_KEY=projects/p1/secrets/api\nDB=projects/p1/secrets/db/versions/3")
    service_config = gcp_env.fake.functions[NAME]["serviceConfig"]
    assert service_config["secretEnvironmentVariables"] == [
        {"key": "API_KEY", "projectId": "p1", "secret": "api", "version": "latest"},
        {"key": "DB", "projectId": "p1", "secret": "db", "version": "3"},
    ]
    assert "API_KEY" not in service_config["environmentVariables"]


def test_new_code_uploads_the_zip_and_records_its_hash(gcp_env: Harness):
    gcp_env.seed(same_code=False)
    plan, result = gcp_env.deploy()
    assert plan.state.update_mask == ("build_config.source", "labels")
    assert plan.code_sha256_old == "hex:" + "0" * 63
    body = gcp_env.fake.calls("PATCH")[0].body
    stored = gcp_env.fake.uploaded(body["buildConfig"]["source"]["storageSource"]["object"])
    assert hashlib.sha256(stored).hexdigest()[:63] == body["labels"][gcp.CODE_LABEL] == gcp_env.code_hex()
    assert result.changed


def test_failed_function_with_the_same_code_is_deployed_again(gcp_env: Harness):
    gcp_env.seed(state="FAILED")  # a failed deploy had already written the code-hash label
    plan, result = gcp_env.deploy()
    assert plan.action == "update"
    assert plan.state.update_mask == ("build_config.source", "labels")
    assert plan.code_sha256_old == plan.code_sha256_new
    assert gcp_env.fake.functions[NAME]["state"] == "ACTIVE" and result.changed


def test_create_sends_every_given_field_with_enum_names(gcp_env: Harness):
    plan, result = gcp_env.deploy(
        runtime="python312", entry_point="handler", memory="1Gi", timeout="300", min_instances="1",
        max_instances="5", ingress="ALLOW_INTERNAL_AND_GCLB", labels="team=web", environment="A=1",
        kms_key=f"projects/{PROJECT}/locations/{REGION}/keyRings/r/cryptoKeys/k",
    )
    assert plan.action == "create"
    upload_request = gcp_env.fake.calls("POST", ":generateUploadUrl")[0]
    assert upload_request.body == {"environment": "GEN_2", "kmsKeyName": f"projects/{PROJECT}/locations/{REGION}/keyRings/r/cryptoKeys/k"}
    create = gcp_env.fake.calls("POST", "/functions")[-1]
    assert create.query["functionId"] == ["fn"]
    body = create.body
    assert body["environment"] == "GEN_2"
    assert body["serviceConfig"]["ingressSettings"] == "ALLOW_INTERNAL_AND_GCLB"
    assert body["buildConfig"]["runtime"] == "python312"
    assert body["serviceConfig"]["availableMemory"] == "1Gi"
    assert body["serviceConfig"]["timeoutSeconds"] == 300
    assert body["labels"] == {"team": "web", gcp.CODE_LABEL: gcp_env.code_hex(), gcp.SHA_LABEL: SHA}
    assert "eventTrigger" not in body
    assert result.function_id == NAME
    assert result.url == f"https://{REGION}-{PROJECT}.cloudfunctions.net/fn"
    assert result.version == gcp_env.fake.functions[NAME]["serviceConfig"]["revision"]


def test_create_needs_a_runtime(gcp_env: Harness):
    with pytest.raises(ProviderError, match="creating it needs `runtime`"):
        gcp_env.plan()
    assert gcp_env.fake.writes() == []


@pytest.mark.parametrize("resource, expected", [
    (f"projects/{PROJECT}/topics/orders", {"pubsubTopic": f"projects/{PROJECT}/topics/orders"}),
    ("projects/_/buckets/uploads", {"eventFilters": [{"attribute": "bucket", "value": "uploads"}]}),
])
def test_event_trigger_on_create(gcp_env: Harness, resource, expected):
    kind = PUBSUB if "topics" in resource else "google.cloud.storage.object.v1.finalized"
    gcp_env.deploy(runtime="python312", event_trigger_type=kind, event_trigger_resource=resource, event_trigger_retry="true")
    trigger = gcp_env.fake.calls("POST", "/functions")[-1].body["eventTrigger"]
    assert trigger == {"eventType": kind, "retryPolicy": "RETRY_POLICY_RETRY", **expected}


def test_event_retry_is_updated_in_place(gcp_env: Harness):
    topic = f"projects/{PROJECT}/topics/orders"
    gcp_env.seed(event_trigger={"eventType": PUBSUB, "pubsubTopic": topic, "retryPolicy": "RETRY_POLICY_RETRY",
                                "trigger": "projects/p/locations/l/triggers/t", "serviceAccountEmail": "sa@x"})
    plan, _ = gcp_env.deploy(event_trigger_type=PUBSUB, event_trigger_resource=topic, event_trigger_retry="false")
    assert plan.state.update_mask == ("event_trigger.retry_policy", "labels")
    trigger = gcp_env.fake.functions[NAME]["eventTrigger"]
    assert trigger["retryPolicy"] == "RETRY_POLICY_DO_NOT_RETRY" and trigger["trigger"] == "projects/p/locations/l/triggers/t"


@pytest.mark.parametrize("seed_trigger, inputs, message", [
    (None, {"event_trigger_type": PUBSUB, "event_trigger_resource": f"projects/{PROJECT}/topics/t"}, "HTTP-triggered"),
    ({"eventType": PUBSUB, "pubsubTopic": "projects/p/topics/t"}, {"trigger_http": "true"}, "cannot become HTTP"),
    ({"eventType": "google.cloud.storage.object.v1.finalized"},
     {"event_trigger_type": PUBSUB, "event_trigger_resource": "projects/p/topics/t"}, "cannot change"),
])
def test_trigger_kind_cannot_switch_in_place(gcp_env: Harness, seed_trigger, inputs, message):
    gcp_env.seed(event_trigger=seed_trigger)
    with pytest.raises(ProviderError, match=message):
        gcp_env.plan(**inputs)


def test_gen1_function_is_refused(gcp_env: Harness):
    gcp_env.fake.add_function(NAME, environment="GEN_1")
    with pytest.raises(ProviderError, match="1st gen"):
        gcp_env.plan(runtime="python312")
    assert gcp_env.fake.writes() == []


# -- waits: every one on the injected clock, bounded by wait-timeout ------------------------------


def test_function_still_deploying_is_waited_for(gcp_env: Harness):
    gcp_env.seed()
    gcp_env.fake.deploying_reads[NAME] = 3
    _, _, _, plan = gcp_env.plan()
    assert plan.action == "none"
    assert gcp_env.clock.sleeps == [0.5, 0.75, 1.125]
    assert len(gcp_env.fake.calls("GET", "/functions/fn")) == 4
    assert any("DEPLOYING" in line for line in gcp_env.log.lines)


def test_function_deploying_past_the_deadline(gcp_env: Harness):
    gcp_env.seed()
    gcp_env.fake.deploying_reads[NAME] = 10_000
    with pytest.raises(DeadlineError, match="did not finish within 20 s.*DEPLOYING"):
        gcp_env.plan(wait_timeout="20")
    assert gcp_env.clock.slept == pytest.approx(20)


def test_operation_is_polled_on_the_clock_and_stages_are_printed(gcp_env: Harness):
    gcp_env.seed(same_code=False)
    gcp_env.fake.operation_polls = 4
    _, result = gcp_env.deploy()
    assert gcp_env.clock.sleeps == [0.5, 0.75, 1.125, 1.6875]
    assert len(gcp_env.fake.calls("GET", "/operations/")) == 4
    stage_lines = [line for line in gcp_env.log.lines if line.startswith("  ")]
    assert stage_lines[0] == "  BUILD: IN_PROGRESS - Building Function"
    assert stage_lines.count("  BUILD: IN_PROGRESS - Building Function") == 1  # printed on change only
    assert "  BUILD: COMPLETE" in stage_lines and "  SERVICE: COMPLETE" in stage_lines
    assert any(line.startswith("  BUILD logs: https://console.cloud.google.com/cloud-build/") for line in stage_lines)
    assert result.changed


def test_operation_past_the_deadline(gcp_env: Harness):
    gcp_env.seed(same_code=False)
    gcp_env.fake.operation_never_done = True
    with pytest.raises(DeadlineError) as caught:
        gcp_env.deploy(wait_timeout="60")
    message = str(caught.value)
    assert "deploying function fn did not finish within 60 s" in message
    assert "BUILD IN_PROGRESS (Building Function)" in message
    assert "operations/operation-" in message
    assert gcp_env.clock.slept == pytest.approx(60)
    assert max(gcp_env.clock.sleeps) <= gcp.POLL_MAX
    assert len(gcp_env.fake.calls("GET", "/operations/")) < 20


def test_operation_done_on_the_poll_at_the_deadline_succeeds(gcp_env: Harness):
    gcp_env.seed(same_code=False)
    gcp_env.fake.operation_polls = 4  # polled after 0.5, 1.25, 2.375 and (capped) 3.0 s
    _, result = gcp_env.deploy(wait_timeout="3")
    assert gcp_env.clock.sleeps == [0.5, 0.75, 1.125, pytest.approx(0.625)]
    assert result.changed


def test_failed_build_reports_the_service_message_and_the_log(gcp_env: Harness):
    gcp_env.fake.build_failure = "npm ERR! missing script: build"
    with pytest.raises(ProviderError) as caught:
        gcp_env.deploy(runtime="nodejs22")
    message = str(caught.value)
    assert "Build failed with status: FAILURE and message: npm ERR! missing script: build" in message
    assert re.search(r"build log: https://console\.cloud\.google\.com/cloud-build/builds;region=us-central1/\w+", message)


def test_function_not_active_after_the_operation(gcp_env: Harness):
    gcp_env.fake.state_after_deploy = "FAILED"
    with pytest.raises(ProviderError, match="is FAILED after the deployment, not ACTIVE: ERROR: Revision is not ready"):
        gcp_env.deploy(runtime="python312")


def test_transient_errors_on_reads_are_retried_on_the_clock(gcp_env: Harness):
    gcp_env.seed()
    gcp_env.fake.unavailable = 2
    _, _, _, plan = gcp_env.plan()
    assert plan.action == "none"
    assert len(gcp_env.clock.sleeps) == 2
    assert sum("retrying" in line for line in gcp_env.log.lines) == 2


def test_upload_is_retried_then_verified(gcp_env: Harness):
    gcp_env.seed(same_code=False)
    gcp_env.fake.upload_failures = 2
    plan, _ = gcp_env.deploy()
    assert len(gcp_env.clock.sleeps) == 2
    assert sum("package upload attempt" in line for line in gcp_env.log.lines) == 2
    assert not any("Signature" in line for line in gcp_env.log.lines)
    obj = gcp_env.fake.calls("PATCH")[0].body["buildConfig"]["source"]["storageSource"]["object"]
    assert hashlib.sha256(gcp_env.fake.uploaded(obj)).hexdigest()[:63] == gcp_env.code_hex()


def test_upload_gives_up_after_bounded_attempts(gcp_env: Harness):
    gcp_env.seed(same_code=False)
    gcp_env.fake.upload_failures = 100
    with pytest.raises(ProviderError, match=f"failed {gcp.UPLOAD_ATTEMPTS} times; last: HTTP 503"):
        gcp_env.deploy()
    assert gcp_env.fake.calls("PATCH") == []


def test_function_changed_between_plan_and_apply_is_not_overwritten(gcp_env: Harness):
    gcp_env.seed(labels={"team": "a"})
    provider, spec, artifact, plan = gcp_env.plan(memory="512Mi")
    gcp_env.fake.functions[NAME]["labels"]["owner"] = "someone-else"
    gcp_env.fake.functions[NAME]["updateTime"] = "2031-01-01T00:00:00Z"
    with pytest.raises(ProviderError, match="changed after the plan"):
        provider.apply(plan, spec, artifact)
    assert gcp_env.fake.calls("PATCH") == []


# -- allow-unauthenticated: the Cloud Run service's IAM policy -----------------------------------


def test_allow_unauthenticated_grants_then_revokes_invoker(gcp_env: Harness):
    plan, _ = gcp_env.deploy(runtime="python312", allow_unauthenticated="true")
    assert any("grant roles/run.invoker" in step for step in plan.steps)
    assert gcp_env.fake.policy_members(SERVICE) == ["allUsers"]

    again, result = gcp_env.deploy(allow_unauthenticated="true")
    assert again.action == "none" and not result.changed

    gcp_env.fake.policies[SERVICE]["bindings"][0]["members"].append("user:ops@example.com")
    revoke, result = gcp_env.deploy(allow_unauthenticated="false")
    assert revoke.action == "update" and revoke.state.update_mask == ()
    assert gcp_env.fake.policy_members(SERVICE) == ["user:ops@example.com"]
    assert result.changed
    assert gcp_env.fake.calls("PATCH") == []


# -- check(): pure, before any call --------------------------------------------------------------


def _artifact(size: int = 1000, unzipped: int = 2000) -> Artifact:
    return Artifact(Path("/nonexistent.zip"), size, "x", "y", unzipped, 1)


@pytest.mark.parametrize("inputs, artifact, expected", [
    ({}, _artifact(), []),
    ({}, _artifact(size=gcp.SOURCE_LIMIT + 1), ["source"]),
    ({}, _artifact(unzipped=gcp.UNZIPPED_LIMIT + 1), ["source"]),
    ({"labels": "deployed-sha=abc\nfaas-code-sha256=def"}, _artifact(), ["labels", "labels"]),
    ({"environment": "A=1", "secrets": "A=projects/p/secrets/s"}, _artifact(), ["secrets"]),
    ({"event_trigger_type": PUBSUB, "event_trigger_resource": "projects/_/buckets/b"}, _artifact(), ["event-trigger-resource"]),
    ({"event_trigger_type": "google.cloud.firestore.document.v1.written", "event_trigger_resource": "projects/p/topics/t"},
     _artifact(), ["event-trigger-type"]),
])
def test_check(gcp_env: Harness, inputs, artifact, expected):
    problems = gcp.check(gcp_env.spec(**inputs), artifact)
    assert [p.field for p in problems] == expected


def test_default_ignores_follow_gcloud(gcp_env: Harness):
    (gcp_env.workspace / ".gitignore").write_text("*.log\n")
    (gcp_env.workspace / "debug.log").write_text("x")
    (gcp_env.workspace / ".git").mkdir()
    (gcp_env.workspace / ".git" / "HEAD").write_text("ref")
    (gcp_env.workspace / "gha-creds-0123456789abcdef.json").write_text("{}")
    artifact = gcp_env.artifact(gcp_env.spec())
    names = set(zipfile.ZipFile(io.BytesIO(artifact.path.read_bytes())).namelist())
    assert names == {"main.py", "requirements.txt"}


# -- credentials and project ---------------------------------------------------------------------


def _service_account_file(path: Path, project: str) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_text(json.dumps({
        "type": "service_account", "project_id": project, "private_key_id": "1", "private_key": pem.decode(),
        "client_email": f"deployer@{project}.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": "http://127.0.0.1:9/token",
    }))
    return path


def wif_file(path: Path, fake: FakeGcp) -> Path:
    """What google-github-actions/auth writes for workload identity federation, aimed at the fake."""
    audience = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/gh/providers/gh"
    path.write_text(json.dumps({
        "type": "external_account",
        "audience": audience,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"{fake.url}/sts/v1/token",
        "credential_source": {
            "url": f"{fake.url}/oidc?api-version=2.0&audience=https%3A%2F%2Fiam.googleapis.com%2F",
            "headers": {"Authorization": f"Bearer {fake.oidc_request_token}"},
            "format": {"type": "json", "subject_token_field_name": "value"},
        },
    }))
    return path


def test_project_from_credentials_wins_over_the_environment(gcp_env: Harness, tmp_path: Path):
    key_file = _service_account_file(tmp_path / "sa.json", "sa-project")
    spec = gcp_env.spec(project=None, gcp_access_token=None)
    provider = gcp_env.connect(spec, {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file), "GOOGLE_CLOUD_PROJECT": "env-project"})
    assert provider.project == "sa-project"
    assert gcp_env.fake.requests == []


def test_workload_identity_file_exchanges_the_oidc_token(gcp_env: Harness, tmp_path: Path):
    gcp_env.seed()
    gcp_env.fake.require_token = STS_TOKEN
    spec = gcp_env.spec(project=None, gcp_access_token=None)
    environ = {"GOOGLE_APPLICATION_CREDENTIALS": str(wif_file(tmp_path / "gha-creds-1.json", gcp_env.fake)),
               "GCLOUD_PROJECT": PROJECT}
    provider = gcp_env.connect(spec, environ)
    assert gcp_env.fake.requests == []  # connect makes no call
    plan = provider.plan(spec, gcp_env.artifact(spec))
    assert plan.action == "none"
    assert [r.path for r in gcp_env.fake.requests[:2]] == ["/oidc", "/sts/v1/token"]
    assert STS_TOKEN in gcp_env.log.secrets


def test_missing_credentials_file_is_a_credentials_error(gcp_env: Harness, tmp_path: Path):
    spec = gcp_env.spec(gcp_access_token=None)
    with pytest.raises(CredentialsError, match="google-github-actions/auth"):
        gcp_env.connect(spec, {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "gone.json")})


def test_no_credentials_at_all(gcp_env: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # google-auth's ADC reads the process environment itself: make it find nothing, fast.
    for key in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    spec = gcp_env.spec(gcp_access_token=None)
    with pytest.raises(CredentialsError, match="gcp-access-token"):
        gcp_env.connect(spec, {})


def test_no_project_anywhere_is_an_input_error(gcp_env: Harness):
    spec = gcp_env.spec(project=None)
    with pytest.raises(InputError) as caught:
        gcp_env.connect(spec, {})
    assert [p.field for p in caught.value.problems] == ["project"]


def test_given_token_is_masked_and_sent(gcp_env: Harness):
    gcp_env.seed()
    gcp_env.plan()
    assert TOKEN in gcp_env.log.secrets
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in gcp_env.fake.requests)
