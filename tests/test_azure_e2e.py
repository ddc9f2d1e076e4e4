"""End to end: entrypoint.py runs with the runner's environment against the fake ARM + Kudu server
(and Azurite for run-from-package), for each deploy method, slot swap, failures and bad input."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import urllib.parse
import urllib.request
import zipfile

import pytest

from tests.azurite import azurite  # noqa: F401  (fixture)
from tests.fakes.azure_fake import (
    GITHUB_JWT,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    TOKEN,
    FakeAzure,
    FakeFunction,
    FakeIdentity,
)

SHA = "0123456789abcdef0123456789abcdef01234567"  # what the runner fixture exports as GITHUB_SHA
SITE_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Web/sites/app"
BASE_INPUTS = {
    "provider": "azure",
    "function-name": "app",
    "resource-group": RESOURCE_GROUP,
    "subscription-id": SUBSCRIPTION,
    "azure-access-token": TOKEN,
    "wait-timeout": "20",
}


@pytest.fixture
def fake():
    with FakeAzure() as server:
        yield server


@pytest.fixture
def app(workspace):
    (workspace / "host.json").write_text('{"version": "2.0"}')
    (workspace / "function_app.py").write_text("import azure.functions as func\napp = func.FunctionApp()\n")
    (workspace / "local.settings.json").write_text('{"Values": {"SECRET": "local-only"}}')
    return workspace


def deploy(action, fake: FakeAzure, **inputs: str):
    env = {**fake.env(), **inputs.pop("env", {})}
    return action.run({**BASE_INPUTS, **{k.replace("_", "-"): v for k, v in inputs.items()}}, env)


def assert_ok(result) -> None:
    assert result.code == 0, result.stdout + result.stderr
    assert result.errors == []


def assert_masked(result, secret: str) -> None:
    """The secret shows up only in its own ::add-mask:: command, before anything else prints it."""
    text = result.stdout + result.stderr
    lines = [ln for ln in text.splitlines() if secret in ln]
    assert lines, "the secret was expected to be masked"
    assert all(ln.startswith("::add-mask::") for ln in lines), lines
    assert text.index(secret) == text.index(f"::add-mask::{secret}") + len("::add-mask::")


def assert_bearer_everywhere(fake: FakeAzure, token: str = TOKEN) -> None:
    assert fake.requests
    assert {r.authorization for r in fake.requests} == {f"Bearer {token}"}
    assert {r.service for r in fake.requests} <= {"arm", "kudu"}


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_flex_deploys_then_the_same_package_is_a_no_op(action, app, fake):
    fake.add_site("app", sku="FlexConsumption")
    result = deploy(action, fake)
    assert_ok(result)

    (publish,) = fake.calls("POST", "/api/publish", service="kudu")
    names = zipfile.ZipFile(io.BytesIO(publish.body)).namelist()
    assert names == ["function_app.py", "host.json"]  # .funcignore defaults drop local.settings.json
    assert publish.headers["content-type"] == "application/zip"
    assert publish.query["RemoteBuild"] == "false" and publish.query["Deployer"] == "faas-action"
    message = json.loads(publish.query["message"])
    assert message["sha"] == SHA and message["ref"] == "refs/heads/main"
    assert message["runUrl"] == "https://github.com/octo/app/actions/runs/42"
    assert message["packageSha256"] == hashlib.sha256(publish.body).hexdigest()

    deployment_id = list(fake.deployments)[0]
    outputs = result.outputs
    assert outputs["function-id"] == SITE_ID
    assert outputs["url"] == "https://app.azurewebsites.net/api/httptrigger"
    assert outputs["app-url"] == "https://app.azurewebsites.net"
    assert outputs["version"] == deployment_id
    assert outputs["slot"] == "" and outputs["deploy-method"] == "flex"
    assert outputs["changed"] == "true"
    assert outputs["code-sha256"] == b64_sha256(publish.body)
    assert outputs["package-size"] == str(len(publish.body))
    assert f"/api/deployments/{deployment_id}" in [r.path for r in fake.calls("GET", deployment_id, service="kudu")]
    assert_bearer_everywhere(fake)
    assert_masked(result, TOKEN)
    assert "app" in result.summary and deployment_id in result.summary

    fake.requests.clear()
    again = deploy(action, fake)
    assert_ok(again)
    assert again.outputs["changed"] == "false"
    assert again.outputs["version"] == deployment_id
    assert again.outputs["url"] == "https://app.azurewebsites.net/api/httptrigger"
    assert fake.writes() == [] and fake.calls("POST", "/api/publish") == []
    assert "no change to azure function app" in again.stdout


def test_zipdeploy_merges_settings_first_and_retries_a_conflict(action, app, fake):
    site = fake.add_site("app", kind="functionapp", sku="ElasticPremium", settings={"EXISTING": "kept"})
    fake.conflicts = 1
    result = deploy(action, fake, environment="FEATURE_FLAG=on\nAPI_KEY=very-secret-value")
    assert_ok(result)
    assert result.outputs["deploy-method"] == "zipdeploy"
    assert site.settings["EXISTING"] == "kept" and site.settings["FEATURE_FLAG"] == "on"
    assert site.settings["AzureWebJobsStorage"].startswith("DefaultEndpointsProtocol=https")

    put = fake.calls("PUT", "/config/appsettings")
    posts = fake.calls("POST", "/api/zipdeploy", service="kudu")
    assert len(posts) == 2 and fake.requests.index(put[0]) < fake.requests.index(posts[0])
    assert posts[-1].query["isAsync"] == "true" and json.loads(posts[-1].query["message"])["sha"] == SHA
    assert "Kudu answered 409" in result.stdout
    assert fake.calls("GET", "/api/deployments/latest", service="kudu")  # the Location was polled
    assert result.outputs["version"] == list(fake.deployments)[0]
    assert_masked(result, "very-secret-value")
    assert "very-secret-value" not in json.dumps(result.outputs)


def test_run_from_package_uploads_to_azurite(action, app, fake, azurite):  # noqa: F811
    site = fake.add_site(
        "app", sku="Dynamic", kind="functionapp,linux", settings={"AzureWebJobsStorage": azurite.connection_string}
    )
    result = deploy(action, fake)
    assert_ok(result)
    package_url = site.settings["WEBSITE_RUN_FROM_PACKAGE"]
    blob = urllib.request.urlopen(package_url, timeout=10).read()
    digest = hashlib.sha256(blob).hexdigest()
    assert result.outputs["code-sha256"] == b64_sha256(blob)
    assert urllib.parse.urlsplit(package_url).path == f"/devstoreaccount1/function-releases/app/{digest}.zip"
    assert result.outputs["version"] == f"app/{digest}.zip"
    assert result.outputs["deploy-method"] == "run-from-package"
    assert site.sync_calls == 1
    assert [r.service for r in fake.requests] == ["arm"] * len(fake.requests)  # Kudu is not involved
    put, sync = fake.calls("PUT", "/config/appsettings")[0], fake.calls("POST", "/syncfunctiontriggers")[0]
    assert fake.requests.index(put) < fake.requests.index(sync)
    signature = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(package_url).query))["sig"]
    unmasked = [ln for ln in result.stdout.splitlines() if not ln.startswith("::add-mask::")]
    assert signature not in "\n".join(unmasked) + result.stderr
    assert "AccountKey" not in result.stdout + result.stderr
    assert_bearer_everywhere(fake)

    fake.requests.clear()
    again = deploy(action, fake)
    assert_ok(again)
    assert again.outputs["changed"] == "false" and again.outputs["version"] == f"app/{digest}.zip"
    assert fake.writes() == []


def test_slot_swap_promotes_the_build(action, app, fake):
    production = fake.add_site("app", kind="functionapp", sku="ElasticPremium", code_sha256="previous-build")
    fake.add_site("app", slot="staging", kind="functionapp", sku="ElasticPremium")
    fake.kudu_target = ("app", "staging")
    result = deploy(action, fake, slot="staging", swap="true")
    assert_ok(result)
    (swap,) = fake.calls("POST", "/slotsswap")
    assert swap.path == SITE_ID + "/slotsswap"
    assert json.loads(swap.body) == {"targetSlot": "staging", "preserveVnet": True}
    assert fake.requests.index(fake.calls("POST", "/api/zipdeploy")[0]) < fake.requests.index(swap)
    assert production.code_sha256 == hashlib.sha256(fake.calls("POST", "/api/zipdeploy")[0].body).hexdigest()
    assert fake.site("app", "staging").code_sha256 == "previous-build"  # ready for a rollback swap
    assert result.outputs["slot"] == "staging"
    assert result.outputs["function-id"] == SITE_ID
    assert result.outputs["app-url"] == "https://app.azurewebsites.net"
    assert result.outputs["url"] == "https://app.azurewebsites.net/api/httptrigger"
    assert "previous production build is now in staging" in result.stdout
    assert_bearer_everywhere(fake)


@pytest.mark.parametrize(("status", "name"), [(3, "Failed"), (5, "Conflict"), (-1, "Cancelled"), (6, "PartialSuccess")])
def test_failed_deployments_exit_1_naming_the_status(action, app, fake, status, name):
    fake.add_site("app", sku="FlexConsumption")
    fake.statuses = [1, 2, status]
    result = deploy(action, fake)
    assert result.code == 1, result.stdout + result.stderr
    (error,) = result.errors
    assert f"ended with status {status} ({name})" in error
    assert f"Deployment ended: {name}" in result.stdout  # Kudu's deployment log is shown
    assert "Traceback" not in result.stdout + result.stderr
    assert "version" not in result.outputs


def test_hung_deployment_hits_wait_timeout(action, app, fake):
    fake.add_site("app", sku="FlexConsumption")
    fake.statuses = [1]
    fake.retry_after = "0.2"
    started = time.monotonic()
    result = deploy(action, fake, wait_timeout="2")
    assert time.monotonic() - started < 15
    assert result.code == 1
    (error,) = result.errors
    assert "did not finish within 2 s" in error and "Building (status 1)" in error
    assert "raise wait-timeout" in error
    assert 3 <= len(fake.calls("GET", "", service="kudu")) <= 12  # polled every 0.2 s, not hammered


def test_zero_functions_indexed_is_an_error(action, app, fake):
    fake.add_site("app", sku="FlexConsumption", functions=[])
    result = deploy(action, fake, wait_timeout="2")
    assert result.code == 1
    (error,) = result.errors
    assert "zero functions indexed in app" in error and ".python_packages" in error


def test_dry_run_sends_no_write(action, app, fake):
    fake.add_site("app", sku="FlexConsumption")
    result = deploy(action, fake, dry_run="true", environment="NEW=1")
    assert_ok(result)
    assert fake.writes() == [] and fake.requests
    (plan,) = json.loads(result.outputs["plan"])
    assert plan["action"] == "update"
    assert {"field": "app setting NEW", "old": None, "new": "(set)"} in plan["changes"]
    assert any("/api/publish" in step for step in plan["steps"])
    assert "version" not in result.outputs


def test_missing_app_exits_1_with_a_clear_error(action, app, fake):
    fake.add_site("another-app")
    result = deploy(action, fake)
    assert result.code == 1
    (error,) = result.errors
    assert "Function App app not found in resource group rg-faas" in error and "create it first" in error
    assert fake.writes() == []


def test_bad_inputs_are_all_reported_before_any_request(action, app, fake):
    fake.add_site("app")
    result = action.run(
        {
            "provider": "azure",
            "function-name": "app",
            "subscription-id": "not-a-guid",
            "deploy-method": "ftp",
            "swap": "true",
            "azure-access-token": TOKEN,
        },
        fake.env(),
    )
    assert result.code == 1
    assert len(result.errors) == 4, result.errors
    for needle in (
        "resource-group: required",
        "subscription-id: 'not-a-guid'",
        "deploy-method: 'ftp'",
        "swap: `swap: true` needs a `slot`",
    ):
        assert sum(needle in e for e in result.errors) == 1, (needle, result.errors)
    assert fake.requests == []


def test_package_and_endpoint_problems_are_reported_before_any_request(action, workspace, fake):
    (workspace / "app").mkdir()
    (workspace / "app" / "host.json").write_text("{}")
    fake.add_site("app")
    result = deploy(
        action, fake, slot="staging", deploy_method="flex", env={"FAAS_AZURE_SCM_ENDPOINT": "http://kudu.example.com"}
    )
    assert result.code == 1
    assert len(result.errors) == 3, result.errors
    assert sum("no host.json at the root" in e and "app/host.json" in e for e in result.errors) == 1
    assert sum("FAAS_AZURE_SCM_ENDPOINT" in e and "https" in e for e in result.errors) == 1
    assert sum("no deployment slots" in e for e in result.errors) == 1
    assert fake.requests == []


def test_oidc_sign_in_without_a_token_input(action, app, fake, tmp_path):
    fake.add_site("app", sku="FlexConsumption")
    with FakeIdentity(tmp_path) as identity:
        inputs = {k: v for k, v in BASE_INPUTS.items() if k != "azure-access-token"}
        inputs.update({"client-id": "11111111-2222-3333-4444-555555555555", "tenant-id": "contoso.onmicrosoft.com"})
        result = action.run(inputs, {**fake.env(), **identity.env()})
    assert_ok(result)
    assert identity.issued_audiences == ["api://AzureADTokenExchange"]
    assert identity.token_requests[0]["tenant"] == "contoso.onmicrosoft.com"
    assert_bearer_everywhere(fake)
    assert_masked(result, f"{GITHUB_JWT}.api://AzureADTokenExchange")
    assert "GitHub OIDC token exchanged" in result.stdout


def test_http_function_url_and_timer_only_app(action, app, fake):
    fake.add_site("app", sku="FlexConsumption", functions=[FakeFunction("Nightly", http=False)])
    result = deploy(action, fake)
    assert_ok(result)
    assert result.outputs["url"] == result.outputs["app-url"] == "https://app.azurewebsites.net"
