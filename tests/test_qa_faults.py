"""qa-faults: a flaky network on Azure and GCP as much as AWS (issue 10's sweep, again).

The fakes inject faults on the wire (tests/fakes/chaos.py): HTTP errors before acting, resets
before and after acting, slow replies, replies cut short of their Content-Length and HTTP 200s
whose body is an HTML page. Focused cases run in-process on a fake clock; the soak runs
entrypoint.py as the runner does, a seeded fifth of the requests failing, and checks each
outcome (exit code, `::error` lines, outputs) against what the fake then serves.
"""

from __future__ import annotations

import base64

import pytest

from faas_action.errors import ProviderError
from tests.conftest import ActionRunner
from tests.fakes.azure_fake import FakeAzure
from tests.fakes.gcp_fake import FakeGcp, gcp_fake  # noqa: F401 (fixture)
from tests.test_azure_e2e import BASE_INPUTS as AZURE_INPUTS
from tests.test_azure_provider import artifact, connect, make_spec  # noqa: F401 (fixture)
from tests.test_gcp_e2e import BASE as GCP_INPUTS
from tests.test_gcp_e2e import NAME as GCP_NAME
from tests.test_gcp_e2e import TOKEN as GCP_TOKEN
from tests.test_gcp_provider import Harness, gcp_env  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def fake():
    with FakeAzure() as server:
        yield server


# -- Azure: Kudu throttling, answers cut short or unreadable, operation polls ---------------------

KUDU_STATUS = "/api/deployments/"


@pytest.mark.parametrize(
    "method, fragment, kind",
    [
        ("POST", "/api/publish", "429"),  # Kudu throttling: used to fail the run at once
        ("POST", "/api/publish", "500"),
        ("GET", KUDU_STATUS, "429"),
        ("GET", KUDU_STATUS, "truncated"),  # IncompleteReadError: used to fail at once
        ("POST", "/api/publish", "truncated"),
        ("GET", "/sites/app?", "truncated"),
        ("GET", "/sites/app?", "not-json"),  # JSONDecodeError out of azure-mgmt-web: exit 2
        ("POST", "/appsettings/list", "truncated"),
        ("PUT", "/appsettings", "truncated"),
        ("PUT", "/appsettings", "409"),  # ARM: another operation on the site; the PUT is idempotent
    ],
)
def test_azure_faults_that_retrying_fixes_are_absorbed(fake, artifact, method, fragment, kind):
    fake.add_site("app", sku="FlexConsumption")
    fake.chaos.script(method, fragment, kind)
    spec = make_spec(fake, wait=60, environment={"A": "1"})
    provider, log, _ = connect(spec)
    result = provider.apply(provider.plan(spec, artifact), spec, artifact)
    assert [k for k, _, _ in fake.chaos.injected] == [kind]
    site = fake.site("app")
    assert result.changed and site.code_sha256 == artifact.sha256_hex and site.settings["A"] == "1"
    assert result.version in fake.deployments and fake.deployments[result.version][0].active
    assert any("retrying in" in line for line in log.lines)


def test_a_publish_answer_that_is_no_deployment_id_follows_the_latest_deployment(fake, artifact):
    """A proxy's HTML page in place of Kudu's id: the deployment started is the latest one; it
    used to be polled as /api/deployments/<html> until the deadline."""
    fake.add_site("app", sku="FlexConsumption")
    fake.chaos.script("POST", "/api/publish", "not-json")
    spec = make_spec(fake, wait=60)
    provider, _, clock = connect(spec)
    result = provider.apply(provider.plan(spec, artifact), spec, artifact)
    assert result.changed and list(fake.deployments) == [result.version]
    assert clock.slept < 10


@pytest.mark.parametrize("kind", ["503", "reset-before", "truncated", "429"])
def test_swap_operation_polls_that_fail_are_polled_again(fake, artifact, kind):
    fake.add_site("app", kind="functionapp", sku="ElasticPremium")
    fake.add_site("app", slot="staging", kind="functionapp", sku="ElasticPremium")
    fake.kudu_target = ("app", "staging")
    fake.swap_polls = 2
    spec = make_spec(fake, slot="staging", swap=True)
    provider, _, _ = connect(spec)
    plan = provider.plan(spec, artifact)
    fake.chaos.script("GET", "/operations/", kind)
    result = provider.apply(plan, spec, artifact)
    assert fake.chaos.injected and result.changed
    assert fake.site("app").code_sha256 == artifact.sha256_hex
    assert len(fake.calls("POST", "/slotsswap")) == 1


def test_an_html_error_page_from_arm_prints_no_sdk_traceback(action: ActionRunner, workspace):
    """azure-mgmt-web logs a warning with a traceback when it cannot read an error body; with no
    logging configured it reached stderr raw (unmasked, and reading like a crash)."""
    (workspace / "host.json").write_text('{"version": "2.0"}')
    with FakeAzure() as fake:
        fake.add_site("app", sku="FlexConsumption")
        fake.chaos.script("GET", "/sites/app?", "502-html")
        result = action.run({**AZURE_INPUTS, "wait-timeout": "20"}, fake.env(), timeout=RUN_DEADLINE_S)
    assert result.code == 0 and result.errors == [], result.stdout
    assert "Traceback" not in result.stdout + result.stderr, result.stderr


# -- GCP: a create or update whose answer is lost; reads cut short or unreadable -----------------

@pytest.mark.parametrize(
    "kind, sent",
    [("reset-after", 1), ("truncated", 1), ("not-json", 1), ("reset-before", 2), ("503", 2)],
)
def test_a_gcp_update_whose_answer_is_lost_is_recognised_by_its_effect(gcp_env: Harness, kind, sent):
    """Applied (reset after, cut short, unreadable): carried on, not sent again; not applied
    (reset before, 503): sent again. It used to fail the run in every case."""
    gcp_env.seed(same_code=False)
    gcp_env.fake.operation_polls = 2
    gcp_env.fake.chaos.script("PATCH", "/functions/fn", kind)
    _, result = gcp_env.deploy()
    assert len(gcp_env.fake.calls("PATCH")) == sent
    function = gcp_env.fake.functions[GCP_NAME.replace("hello", "fn")]
    assert result.changed and function["state"] == "ACTIVE"
    assert function["labels"]["faas-code-sha256"] == gcp_env.code_hex()
    assert result.version == function["serviceConfig"]["revision"]


def test_a_gcp_create_whose_answer_is_lost_is_not_sent_again(gcp_env: Harness):
    gcp_env.fake.operation_polls = 1
    gcp_env.fake.chaos.script("POST", "/locations/us-central1/functions?", "reset-after")
    gcp_env.fake.chaos.script("POST", "/locations/us-central1/functions", "reset-after")
    _, result = gcp_env.deploy(runtime="python312")
    creates = [r for r in gcp_env.fake.calls("POST", "/functions") if r.path.endswith("/functions")]
    assert len(creates) == 1 and result.changed and result.version


def test_a_lost_update_answer_and_someone_elses_change_fail_clearly(gcp_env: Harness):
    gcp_env.seed(same_code=False)
    provider, spec, artifact, plan = gcp_env.plan()
    gcp_env.fake.chaos.script("PATCH", "/functions/fn", "reset-before")
    function = gcp_env.fake.functions[GCP_NAME.replace("hello", "fn")]
    function["updateTime"] = "2030-01-01T00:00:00Z"  # someone else's deploy, meanwhile
    function["labels"]["deployed-sha"] = "someone-else"
    gcp_env.fake.chaos.injected.clear()
    # The guard sees it first: nothing is written.
    with pytest.raises(ProviderError, match="changed after the plan"):
        provider.apply(plan, spec, artifact)


@pytest.mark.parametrize(
    "method, fragment, kind",
    [
        ("GET", "/functions/fn", "truncated"),
        ("GET", "/functions/fn", "not-json"),
        ("GET", "/operations/", "truncated"),
        ("GET", "/operations/", "not-json"),
        ("POST", ":generateUploadUrl", "truncated"),
        ("PUT", "/upload/", "reset-after"),
        ("GET", "/functions/fn", "429-long"),
    ],
)
def test_gcp_reads_cut_short_or_unreadable_are_read_again(gcp_env: Harness, method, fragment, kind):
    gcp_env.seed(same_code=False)
    gcp_env.fake.operation_polls = 2
    gcp_env.fake.chaos.script(method, fragment, kind)
    _, result = gcp_env.deploy()
    assert [k for k, _, _ in gcp_env.fake.chaos.injected] == [kind]
    assert result.changed and len(gcp_env.fake.calls("PATCH")) == 1


# -- the soak: entrypoint.py as the runner runs it, a fifth of the requests failing ----------------

SOAK_RUNS = 6  # per provider here; the sweep ran 24 each (see the qa-faults commit)
RUN_DEADLINE_S = 60


def hex_of(code_sha256: str) -> str:
    return base64.b64decode(code_sha256).hex()


def check_outcome(result, text: str) -> str:
    assert result.code in (0, 1), text
    assert "Traceback" not in text, text
    if result.code == 1:
        assert len(result.errors) == 1, text
        return "failed"
    assert result.errors == [], text
    return "deployed"


def azure_soak(action: ActionRunner, workspace, runs: int, seed0: int = 0) -> tuple[list[str], int]:
    (workspace / "host.json").write_text('{"version": "2.0"}')
    outcomes, injected = [], 0
    with FakeAzure() as fake:
        fake.add_site("app", sku="FlexConsumption")
        for run in range(runs):
            (workspace / "function_app.py").write_text(f"# run {run // 2}\n")  # new code every other run
            fake.chaos.randomly(0.2, seed=seed0 + run)
            result = action.run({**AZURE_INPUTS, "wait-timeout": "20"}, fake.env(), timeout=RUN_DEADLINE_S)
            fake.chaos.randomly(0.0, seed=0)
            text = result.stdout + result.stderr
            outcome = check_outcome(result, text)
            outcomes.append(outcome)
            if outcome == "deployed":
                site = fake.site("app")
                served = [d for d, _ in fake.deployments.values() if d.active]
                assert hex_of(result.outputs["code-sha256"]) == site.code_sha256, text
                if result.outputs["changed"] == "true":
                    assert [d.id for d in served] == [result.outputs["version"]], text
        injected = len(fake.chaos.injected)
    return outcomes, injected


def gcp_soak(action: ActionRunner, fake: FakeGcp, workspace, runs: int, seed0: int = 0) -> tuple[list[str], int]:
    (workspace / "main.py").write_text("def hello(request):\n    return 'hello'\n")
    fake.require_token = GCP_TOKEN
    fake.operation_polls = 1
    env = {"FAAS_GCP_ENDPOINT": fake.url, "NO_GCE_CHECK": "true"}
    outcomes = []
    for run in range(runs):
        (workspace / "extra.py").write_text(f"X = {run // 2}\n")
        fake.chaos.randomly(0.2, seed=seed0 + run)
        result = action.run({**GCP_INPUTS, "wait-timeout": "20"}, env, timeout=RUN_DEADLINE_S)
        fake.chaos.randomly(0.0, seed=0)
        text = result.stdout + result.stderr
        outcome = check_outcome(result, text)
        outcomes.append(outcome)
        assert GCP_TOKEN not in text.replace(f"::add-mask::{GCP_TOKEN}", ""), text
        if outcome == "deployed":
            function = fake.functions[GCP_NAME]
            assert function["state"] == "ACTIVE", text
            assert result.outputs["version"] == function["serviceConfig"]["revision"], text
            assert function["labels"]["faas-code-sha256"] == hex_of(result.outputs["code-sha256"])[:63], text
    return outcomes, len(fake.chaos.injected)


def test_azure_soak_with_random_faults(action: ActionRunner, workspace):
    outcomes, injected = azure_soak(action, workspace, SOAK_RUNS)
    assert injected >= SOAK_RUNS, "too few faults injected to mean anything"
    assert outcomes.count("deployed") >= SOAK_RUNS - 1, outcomes


def test_gcp_soak_with_random_faults(action: ActionRunner, gcp_fake: FakeGcp, workspace):
    outcomes, injected = gcp_soak(action, gcp_fake, workspace, SOAK_RUNS)
    assert injected >= SOAK_RUNS // 2, "too few faults injected to mean anything"
    assert outcomes.count("deployed") >= SOAK_RUNS - 1, outcomes
