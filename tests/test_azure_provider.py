"""The Azure provider in-process: pure rules, plan/apply against the fake ARM + Kudu server through
the real azure-mgmt-web client, and every wait on a fake clock (no test sleeps for real)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from azure.core.exceptions import ServiceRequestError

from faas_action import package
from faas_action.errors import CredentialsError, DeadlineError, ProviderError
from faas_action.models import AzureOptions, FunctionSpec, GitHubContext
from faas_action.providers import azure
from faas_action.providers.base import Deadline, ListLog, RunContext
from faas_action.runner import Runner
from tests.azurite import azurite  # noqa: F401  (fixture)
from tests.fakes.azure_fake import (
    GITHUB_JWT,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    TOKEN,
    FakeAzure,
    FakeDeployment,
    FakeFunction,
    FakeIdentity,
)
from tests.fakes.clock import FakeClock

GITHUB = GitHubContext(
    sha="0123456789abcdef0123456789abcdef01234567", ref="refs/heads/main", repository="octo/app", run_id="42"
)
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
TENANT_ID = "99999999-8888-7777-6666-555555555555"


@pytest.fixture
def fake():
    with FakeAzure() as server:
        yield server


@pytest.fixture
def artifact(tmp_path: Path):
    source = tmp_path / "app"
    source.mkdir()
    (source / "host.json").write_text('{"version": "2.0"}')
    (source / "function_app.py").write_text("import azure.functions as func\napp = func.FunctionApp()\n")
    return package.build(source, tmp_path, out_dir=tmp_path)


def make_spec(
    fake: FakeAzure | None, artifact=None, *, wait: float = 60, environment=None, mode: str = "merge", **options
) -> FunctionSpec:
    values = dict(resource_group=RESOURCE_GROUP, subscription_id=SUBSCRIPTION, access_token=TOKEN)
    if fake is not None:
        values.update(arm_endpoint=fake.arm_url, scm_endpoint=fake.scm_url)
    values.update(options)
    return FunctionSpec(
        provider="azure",
        name="app",
        source=Path("."),
        package=None,
        options=AzureOptions(**values),
        environment=environment,
        environment_mode=mode,
        wait_timeout_s=wait,
        github=GITHUB,
    )


def connect(spec: FunctionSpec, clock: FakeClock | None = None, **context):
    log = ListLog()
    clock = clock or FakeClock()
    provider = azure.connect(spec, RunContext(log=log, clock=clock, github=spec.github, **context))
    return provider, log, clock


def make_site(**values) -> azure.Site:
    base = dict(
        id="/x",
        app="app",
        slot=None,
        kind="functionapp,linux",
        sku="ElasticPremium",
        hosting="premium",
        linux=True,
        state="Running",
        host="app.azurewebsites.net",
        scm="https://app.scm.azurewebsites.net",
    )
    base.update(values)
    base["hosting"] = azure.hosting_of(base["sku"])
    return azure.Site(**base)


# -- pure rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sku", "kind", "slot", "requested", "expected"),
    [
        ("FlexConsumption", "functionapp,linux", None, "auto", "flex"),
        ("FlexConsumption", "functionapp,linux", None, "flex", "flex"),
        ("FlexConsumption", "functionapp,linux", None, "zipdeploy", "error: deploys only with /api/publish"),
        ("FlexConsumption", "functionapp,linux", "staging", "auto", "error: no deployment slots"),
        ("Dynamic", "functionapp,linux", None, "auto", "run-from-package"),
        ("Dynamic", "functionapp", None, "auto", "zipdeploy"),
        ("Dynamic", "functionapp,linux", None, "zipdeploy", "zipdeploy"),
        ("ElasticPremium", "functionapp,linux", None, "auto", "zipdeploy"),
        ("ElasticPremium", "functionapp,linux", "staging", "auto", "zipdeploy"),
        ("Standard", "functionapp", None, "auto", "zipdeploy"),
        ("PremiumV3", "functionapp,linux", None, "run-from-package", "run-from-package"),
        ("Standard", "functionapp", None, "flex", "error: needs a Flex Consumption app"),
        ("", "functionapp", None, "auto", "error: cannot tell the hosting plan"),
        ("", "functionapp", None, "zipdeploy", "zipdeploy"),
    ],
)
def test_deploy_method_by_plan(sku, kind, slot, requested, expected):
    site = make_site(sku=sku, kind=kind, linux="linux" in kind, slot=slot)
    if expected.startswith("error: "):
        with pytest.raises(ProviderError, match=expected[len("error: ") :]):
            azure.choose_method(requested, site)
    else:
        assert azure.choose_method(requested, site) == expected


def test_environment_merge_and_replace_keep_platform_settings():
    current = {
        "AzureWebJobsStorage": "conn",
        "AzureWebJobsStorage__accountName": "acct",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "WEBSITE_RUN_FROM_PACKAGE": "1",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "ai",
        "OLD_FLAG": "1",
        "KEEP": "x",
    }
    assert azure.desired_settings(current, None, "replace") == current
    merged = azure.desired_settings(current, {"KEEP": "y", "NEW": "z"}, "merge")
    assert merged == {**current, "KEEP": "y", "NEW": "z"}
    replaced = azure.desired_settings(current, {"NEW": "z"}, "replace")
    assert replaced == {
        "AzureWebJobsStorage": "conn",
        "AzureWebJobsStorage__accountName": "acct",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "WEBSITE_RUN_FROM_PACKAGE": "1",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "ai",
        "NEW": "z",
    }


def test_settings_diff_never_shows_values():
    changes = azure.settings_diff(
        {"A": "secret-1", "B": "same", "C": "gone"}, {"A": "secret-2", "B": "same", "D": "secret-3"}
    )
    assert [(c.field, c.old, c.new) for c in changes] == [
        ("app setting A", "(set)", "(new value)"),
        ("app setting C", "(set)", None),
        ("app setting D", None, "(set)"),
    ]
    assert "secret" not in repr(changes)


def test_kudu_host_from_site():
    repository = SimpleNamespace(name="app.scm.azurewebsites.net", host_type="Repository")
    standard = SimpleNamespace(name="app.azurewebsites.net", host_type="Standard")
    assert azure.scm_base([standard, repository], "app.azurewebsites.net") == "https://app.scm.azurewebsites.net"
    # Regional unique default host names keep their region label after `.scm.`.
    assert (
        azure.scm_base(None, "app-b3c4.westeurope-01.azurewebsites.net")
        == "https://app-b3c4.scm.westeurope-01.azurewebsites.net"
    )
    assert azure.scm_base([], None) == ""


def test_kudu_urls_keep_the_base_path_prefix():
    kudu = azure.Kudu("http://127.0.0.1:9/kudu/app/", azure.StaticToken("t"), "s")
    assert kudu.url("/api/zipdeploy", isAsync="true", message='{"a":"b c"}') == (
        "http://127.0.0.1:9/kudu/app/api/zipdeploy?isAsync=true&message=%7B%22a%22%3A%22b%20c%22%7D"
    )
    assert kudu.rebase("https://app.scm.azurewebsites.net/api/deployments/latest?deployer=x&time=1") == (
        "http://127.0.0.1:9/kudu/app/api/deployments/latest?deployer=x&time=1"
    )


def test_arm_scope_follows_sovereign_clouds():
    assert azure.arm_scope("https://management.azure.com") == "https://management.azure.com/.default"
    assert azure.arm_scope("https://management.usgovcloudapi.net/") == "https://management.usgovcloudapi.net/.default"
    assert azure.arm_scope("http://127.0.0.1:8080/arm") == "https://management.azure.com/.default"


def test_active_deployment_reads_our_package_hash():
    digest = "ab" * 32

    def deployment(name, active, status, message, start):
        return SimpleNamespace(
            name=name,
            active=active,
            status=status,
            message=message,
            start_time=SimpleNamespace(isoformat=lambda: start),
        )

    ours = deployment("app/d2", True, 4, json.dumps({"packageSha256": digest}), "2025-01-02")
    other = deployment("app/d3", False, 3, "manual", "2025-01-03")
    assert azure.active_deployment([other, ours]) == azure.Deployed(digest, "d2")
    vscode = deployment("app/d4", True, 4, "Created via a push deployment", "2025-01-04")
    assert azure.active_deployment([ours, vscode]) == azure.Deployed(None, "d4")
    assert azure.active_deployment([]) == azure.Deployed()


def test_check_reports_what_the_package_and_endpoints_reveal(tmp_path, artifact):
    nested = tmp_path / "nested"
    (nested / "func").mkdir(parents=True)
    (nested / "func" / "host.json").write_text("{}")
    no_host = package.build(nested, tmp_path, out_dir=tmp_path)
    spec = make_spec(None, arm_endpoint="http://arm.example.com", slot="staging", deploy_method="flex")
    spec = dataclasses.replace(spec, environment={"WEBSITE_RUN_FROM_PACKAGE": "https://x/y.zip"})
    problems = [str(p) for p in azure.check(spec, no_host)]
    assert problems == [
        "source: no host.json at the root of the package: a Function App needs it there; found 'func/host.json': point `source` at that folder",
        "FAAS_AZURE_ARM_ENDPOINT is 'http://arm.example.com': bearer tokens are only sent over https (plain http is accepted for 127.0.0.1, localhost and ::1 only)",
        "slot: Flex Consumption apps have no deployment slots: remove `slot` or use another deploy-method",
        "environment: WEBSITE_RUN_FROM_PACKAGE must not be a URL: the action deploys the package itself",
    ]
    assert azure.check(make_spec(None, arm_endpoint="http://127.0.0.1:1/arm"), artifact) == []


# -- the loopback seam ------------------------------------------------------------------------------


def test_bearer_token_over_http_is_refused_except_on_loopback():
    deadline = Deadline(FakeClock(), 10, "test")
    with pytest.raises(ServiceRequestError, match="non-TLS"):
        azure.Kudu("http://kudu.example.invalid", azure.StaticToken("t"), "s").send(
            "GET", "http://kudu.example.invalid/api/x", deadline
        )
    with pytest.raises(ServiceRequestError, match="non-TLS"):  # 127.0.0.2 is loopback, but not one of ours
        azure.Kudu("http://127.0.0.2:9", azure.StaticToken("t"), "s").send("GET", "http://127.0.0.2:9/api/x", deadline)


# -- plan: read-only, refusals ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sku", "kind", "method"),
    [
        ("FlexConsumption", "functionapp,linux", "flex"),
        ("ElasticPremium", "functionapp", "zipdeploy"),
        ("Dynamic", "functionapp,linux", "run-from-package"),
    ],
)
def test_plan_only_reads(fake, artifact, sku, kind, method):
    fake.add_site("app", sku=sku, kind=kind)
    spec = make_spec(fake, artifact, environment={"NEW_SETTING": "v"})
    provider, log, _ = connect(spec)
    plan = provider.plan(spec, artifact)
    assert fake.writes() == []
    assert [r.service for r in fake.requests] == ["arm"] * len(fake.requests)
    assert plan.action == "update" and plan.state.method == method
    assert plan.state.deploy_code and plan.state.settings_changed
    assert ("app setting NEW_SETTING", None, "(set)") in [(c.field, c.old, c.new) for c in plan.changes]
    assert plan.code_sha256_new == artifact.sha256 and plan.code_sha256_old is None


def test_plan_falls_back_to_the_app_service_plan_sku(fake, artifact):
    fake.add_site("app", sku=None, server_farm="flexplan")
    fake.plans["flexplan"] = "FlexConsumption"
    provider, _, _ = connect(make_spec(fake))
    assert provider.plan(make_spec(fake), artifact).state.method == "flex"


@pytest.mark.parametrize(
    ("site", "options", "message"),
    [
        ({"name": "other"}, {}, "Function App app not found in resource group rg-faas .*create it first"),
        ({"name": "app"}, {"slot": "staging"}, "slot staging of Function App app not found.*slot create"),
        ({"name": "app", "kind": "app,linux"}, {}, "is not a Function App"),
        ({"name": "app", "settings": {"AzureWebJobsStorage": None}}, {}, "no AzureWebJobsStorage"),
        (
            {"name": "app", "sku": "FlexConsumption", "settings": {"WEBSITE_RUN_FROM_PACKAGE": "1"}},
            {},
            "Flex does not support",
        ),
        (
            {"name": "app", "settings": {"WEBSITE_RUN_FROM_PACKAGE": "https://store/x.zip?sig=1"}},
            {},
            "a zip deploy would be refused",
        ),
        (
            {
                "name": "app",
                "sku": "Dynamic",
                "settings": {"AzureWebJobsStorage": None, "AzureWebJobsStorage__accountName": "acct"},
            },
            {},
            "not a connection string with an account key",
        ),
    ],
)
def test_plan_refuses_what_cannot_work(fake, artifact, site, options, message):
    site = dict(site)
    settings = site.pop("settings", {})
    created = fake.add_site(**site)
    for key, value in settings.items():
        if value is None:
            created.settings.pop(key)
        else:
            created.settings[key] = value
    spec = make_spec(fake, **options)
    provider, _, _ = connect(spec)
    with pytest.raises(ProviderError, match=message):
        provider.plan(spec, artifact)
    assert fake.writes() == []


def test_wrong_token_is_a_credentials_error(fake, artifact):
    fake.add_site("app")
    spec = make_spec(fake, access_token="not-the-token")
    provider, _, _ = connect(spec)
    with pytest.raises(CredentialsError, match="401"):
        provider.plan(spec, artifact)


# -- apply on a fake clock ------------------------------------------------------------------------


def test_hung_deployment_hits_the_deadline_on_the_clock(fake, artifact):
    fake.add_site("app", sku="FlexConsumption")
    fake.statuses = [1]
    fake.retry_after = ""  # no Retry-After: the provider's own poll interval applies
    spec = make_spec(fake, wait=60)
    provider, log, clock = connect(spec)
    plan = provider.plan(spec, artifact)
    start = clock.now()
    with pytest.raises(DeadlineError) as caught:
        provider.apply(plan, spec, artifact)
    assert "Kudu deployment to app did not finish within 60 s" in caught.value.message
    assert "is still Building (status 1)" in caught.value.message
    assert clock.now() - start == pytest.approx(60)
    assert all(s <= azure.DEFAULT_POLL_S for s in clock.sleeps)
    polls = fake.calls("GET", "", service="kudu")
    assert 60 / azure.DEFAULT_POLL_S <= len(polls) <= 60 / azure.DEFAULT_POLL_S + 2
    assert any("Building (status 1)" in line for line in log.lines)


def test_conflicts_are_retried_with_backoff(fake, artifact):
    fake.add_site("app", kind="functionapp", sku="ElasticPremium")
    fake.conflicts = 3
    fake.retry_after = ""
    spec = make_spec(fake)
    provider, log, clock = connect(spec)
    result = provider.apply(provider.plan(spec, artifact), spec, artifact)
    assert len(fake.calls("POST", "/api/zipdeploy")) == 4
    assert result.changed and result.outputs["deploy-method"] == "zipdeploy"
    assert len([line for line in log.lines if "Kudu answered 409" in line]) == 3
    assert clock.sleeps[:3] and all(0 < s <= 0.05 + 2.0 * 2**i for i, s in enumerate(clock.sleeps[:3]))


def test_conflicts_without_end_hit_the_deadline(fake, artifact):
    fake.add_site("app", sku="FlexConsumption")
    fake.conflicts = 10_000
    fake.retry_after = ""  # Kudu sends none with its 409: the provider's backoff applies
    spec = make_spec(fake, wait=30)
    provider, _, clock = connect(spec)
    with pytest.raises(
        DeadlineError, match=r"within 30 s: Kudu answered 409 \(a deployment is already in progress\)"
    ):
        provider.apply(provider.plan(spec, artifact), spec, artifact)
    assert clock.slept == pytest.approx(30)


@pytest.mark.parametrize(("status", "name"), [(3, "Failed"), (5, "Conflict"), (-1, "Cancelled"), (6, "PartialSuccess")])
def test_only_status_4_passes(fake, artifact, status, name):
    fake.add_site("app", sku="FlexConsumption")
    fake.statuses = [0, 1, 2, status]
    spec = make_spec(fake)
    provider, log, _ = connect(spec)
    with pytest.raises(ProviderError) as caught:
        provider.apply(provider.plan(spec, artifact), spec, artifact)
    assert f"ended with status {status} ({name})" in caught.value.message
    assert any(line.startswith("Kudu deployment log of ") for line in log.lines)
    assert f"Deployment ended: {name}" in "\n".join(log.lines)
    assert fake.calls("GET", "/functions") == []


def test_deployment_status_404_then_found(fake, artifact):
    fake.add_site("app", sku="FlexConsumption")
    fake.not_found_polls = 2
    spec = make_spec(fake)
    provider, log, _ = connect(spec)
    result = provider.apply(provider.plan(spec, artifact), spec, artifact)
    assert result.version == list(fake.deployments)[0]
    assert len([line for line in log.lines if "Kudu answered 404" in line]) == 2


def test_functions_are_waited_for_then_zero_is_an_error(fake, artifact):
    site = fake.add_site("app", sku="FlexConsumption", index_after=3)
    spec = make_spec(fake)
    provider, _, clock = connect(spec)
    result = provider.apply(provider.plan(spec, artifact), spec, artifact)
    assert result.url == "https://app.azurewebsites.net/api/httptrigger"
    assert len(fake.calls("GET", "/functions")) == 4

    site.functions = []
    artifact2 = package.describe(_zip_with(artifact, "extra.py", b"x = 2\n"))
    spec = make_spec(fake, wait=1000)
    provider, _, clock = connect(spec)
    with pytest.raises(ProviderError) as caught:
        provider.apply(provider.plan(spec, artifact2), spec, artifact2)
    assert f"zero functions indexed in app {azure.FUNCTIONS_WAIT_CAP_S:g} s after the deploy" in caught.value.message
    assert ".python_packages" in caught.value.hint


def test_url_is_the_http_function_else_the_app(fake, artifact):
    fake.add_site(
        "app",
        sku="FlexConsumption",
        functions=[FakeFunction("Timer", http=False), FakeFunction("Zeta"), FakeFunction("Alpha")],
    )
    spec = make_spec(fake)
    provider, _, _ = connect(spec)
    assert (
        provider.apply(provider.plan(spec, artifact), spec, artifact).url == "https://app.azurewebsites.net/api/alpha"
    )
    fake.site("app").functions = [FakeFunction("Timer", http=False)]
    artifact2 = package.describe(_zip_with(artifact, "more.py", b""))
    assert provider.apply(provider.plan(spec, artifact2), spec, artifact2).url == "https://app.azurewebsites.net"


def test_swap_waits_on_the_clock_and_fails_clearly(fake, artifact):
    fake.add_site("app", kind="functionapp", sku="ElasticPremium")
    fake.add_site("app", slot="staging", kind="functionapp", sku="ElasticPremium")
    fake.kudu_target = ("app", "staging")
    fake.swap_polls = 10_000
    fake.retry_after = "5"
    spec = make_spec(fake, wait=40, slot="staging", swap=True)
    provider, log, clock = connect(spec)
    plan = provider.plan(spec, artifact)
    with pytest.raises(
        DeadlineError,
        match="swap of slot staging into production did not finish within 40 s: the operation is still InProgress",
    ):
        provider.apply(plan, spec, artifact)
    assert fake.calls("POST", "/slotsswap")[0].body == b'{"targetSlot": "staging", "preserveVnet": true}'

    fake.swap_polls, fake.swap_result = 1, "Failed"
    artifact2 = package.describe(_zip_with(artifact, "again.py", b""))
    provider, _, _ = connect(spec)
    with pytest.raises(ProviderError, match="swapping slot staging of app into production failed"):
        provider.apply(provider.plan(spec, artifact2), spec, artifact2)


def test_swap_promotes_the_slot_and_keeps_the_old_build_there(fake, artifact):
    production = fake.add_site("app", kind="functionapp", sku="ElasticPremium", code_sha256="old")
    fake.add_site("app", slot="staging", kind="functionapp", sku="ElasticPremium")
    fake.kudu_target = ("app", "staging")
    spec = make_spec(fake, slot="staging", swap=True)
    provider, _, _ = connect(spec)
    plan = provider.plan(spec, artifact)
    assert (
        plan.steps[-1]
        == "swap slot staging into production (up to 60 s); the previous production build stays in staging"
    )
    result = provider.apply(plan, spec, artifact)
    assert production.code_sha256 == artifact.sha256_hex
    assert fake.site("app", "staging").code_sha256 == "old"
    assert result.function_id.endswith("/sites/app") and result.outputs["slot"] == "staging"
    assert result.url == "https://app.azurewebsites.net/api/httptrigger"
    # Production now runs the package: the same run again changes nothing, even in the slot.
    provider, _, _ = connect(spec)
    again = provider.plan(spec, artifact)
    assert again.action == "none"
    assert not provider.apply(again, spec, artifact).changed
    assert len(fake.calls("POST", "/slotsswap")) == 1


def test_sync_triggers_accepts_200_and_retries_errors(fake, artifact, azurite):  # noqa: F811
    site = fake.add_site("app", sku="Dynamic", settings={"AzureWebJobsStorage": azurite.connection_string})
    fake.sync_failures = 2
    spec = make_spec(fake)
    provider, log, clock = connect(spec)
    result = provider.apply(provider.plan(spec, artifact), spec, artifact)
    assert site.sync_calls == 3
    assert len([line for line in log.lines if line.startswith("trigger sync failed")]) == 2
    assert result.version == f"app/{artifact.sha256_hex}.zip"


def test_guards_refuse_when_the_app_changed_after_the_plan(fake, artifact):
    site = fake.add_site("app", sku="FlexConsumption")
    spec = make_spec(fake, environment={"A": "1"})
    provider, _, _ = connect(spec)
    plan = provider.plan(spec, artifact)
    site.settings["SOMEONE_ELSE"] = "x"
    with pytest.raises(ProviderError, match="app settings of app changed since the plan"):
        provider.apply(plan, spec, artifact)
    assert fake.writes() == []

    plan = provider.plan(spec, artifact)
    site.deployments.append(
        FakeDeployment(
            id="manual",
            message="from VS Code",
            deployer="vscode",
            body_sha256="",
            script=[4],
            status=4,
            active=True,
            received="2030-01-01T00:00:00.000000Z",
        )
    )
    with pytest.raises(ProviderError, match=r"app was deployed to \(deployment manual\) since the plan"):
        provider.apply(plan, spec, artifact)
    assert fake.writes() == []


def test_replace_mode_keeps_platform_settings(fake, artifact):
    site = fake.add_site(
        "app", sku="FlexConsumption", settings={"OLD": "1", "APPLICATIONINSIGHTS_CONNECTION_STRING": "ai"}
    )
    spec = make_spec(fake, environment={"NEW": "2"}, mode="replace")
    provider, _, _ = connect(spec)
    provider.apply(provider.plan(spec, artifact), spec, artifact)
    assert set(site.settings) == {
        "FUNCTIONS_EXTENSION_VERSION",
        "FUNCTIONS_WORKER_RUNTIME",
        "AzureWebJobsStorage",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "NEW",
    }
    put = fake.calls("PUT", "/config/appsettings")
    publish = fake.calls("POST", "/api/publish")
    assert fake.requests.index(put[0]) < fake.requests.index(publish[0])  # settings before code


# -- credentials ----------------------------------------------------------------------------------


def _context(environ=None, id_token=True):
    log = ListLog()
    token = (lambda audience: f"jwt-for-{audience}") if id_token else None
    return RunContext(log=log, id_token=token, environ=environ or {}), log


OIDC_ENV = {
    "ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:1/x?api-version=2.0",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t",
}


@pytest.mark.parametrize(
    ("options", "environ", "expected"),
    [
        (
            {"access_token": "tok", "client_id": CLIENT_ID, "tenant_id": TENANT_ID},
            {**OIDC_ENV, "AZURE_CLIENT_SECRET": "s"},
            "StaticToken",
        ),
        (
            {"client_id": CLIENT_ID, "tenant_id": TENANT_ID},
            {**OIDC_ENV, "AZURE_CLIENT_SECRET": "s"},
            "ClientAssertionCredential",
        ),
        ({"client_id": CLIENT_ID}, OIDC_ENV, "error: needs both client-id and tenant-id"),
        (
            {"client_id": CLIENT_ID, "tenant_id": TENANT_ID},
            {"AZURE_CLIENT_SECRET": "s3cret", "AZURE_FEDERATED_TOKEN_FILE": "/f"},
            "ClientSecretCredential",
        ),
        (
            {"client_id": CLIENT_ID, "tenant_id": TENANT_ID},
            {"AZURE_FEDERATED_TOKEN_FILE": __file__},  # any file that exists: read only when a token is needed
            "WorkloadIdentityCredential",
        ),
        ({"client_id": CLIENT_ID, "tenant_id": TENANT_ID}, {}, "error: permissions: id-token: write"),
        ({}, OIDC_ENV, "DefaultAzureCredential"),
        ({"client_id": CLIENT_ID}, {}, "DefaultAzureCredential"),
        ({"client_id": CLIENT_ID, "tenant_id": TENANT_ID}, {"AZURE_FEDERATED_TOKEN_FILE": "/gone"}, "error: cannot see"),
    ],
)
def test_credential_order(options, environ, expected):
    ctx, log = _context(environ)
    opts = AzureOptions(resource_group="rg", subscription_id=SUBSCRIPTION, **options)
    if expected.startswith("error: "):
        with pytest.raises(CredentialsError) as caught:
            azure.choose_credential(opts, ctx)
        assert expected[len("error: ") :] in str(caught.value)
        return
    _, credential = azure.choose_credential(opts, ctx)
    assert type(credential).__name__ == expected
    if expected == "ClientSecretCredential":
        assert log.secrets == ["s3cret"]


def test_no_oidc_without_the_runner_token(monkeypatch):
    ctx, _ = _context(OIDC_ENV, id_token=False)
    opts = AzureOptions(resource_group="rg", subscription_id=SUBSCRIPTION, client_id=CLIENT_ID, tenant_id=TENANT_ID)
    with pytest.raises(CredentialsError, match="no GitHub OIDC token"):
        azure.choose_credential(opts, ctx)


def test_oidc_exchange_against_fake_github_and_entra(fake, artifact, tmp_path, monkeypatch):
    """The real ClientAssertionCredential: GitHub JWT (audience api://AzureADTokenExchange) → Entra
    token endpoint (https, our certificate) → the management token on every ARM request."""
    fake.add_site("app", sku="FlexConsumption")
    with FakeIdentity(tmp_path) as identity:
        environ = identity.env()
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", environ["REQUESTS_CA_BUNDLE"])
        out = io.StringIO()
        runner = Runner(environ, out)
        spec = make_spec(fake, access_token=None, client_id=CLIENT_ID, tenant_id=TENANT_ID)
        provider, log, _ = connect(spec, id_token=runner.id_token, environ=environ)
        plan = provider.plan(spec, artifact)
    assert plan.action == "update"
    assert identity.issued_audiences == ["api://AzureADTokenExchange"]
    (exchange,) = identity.token_requests
    assert exchange["tenant"] == TENANT_ID and exchange["client_id"] == CLIENT_ID
    assert exchange["scope"] == "https://management.azure.com/.default"
    assert exchange["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert {r.authorization for r in fake.requests} == {f"Bearer {TOKEN}"}
    assert f"::add-mask::{GITHUB_JWT}.api://AzureADTokenExchange" in out.getvalue()


# -- helpers ----------------------------------------------------------------------------------------


def _zip_with(artifact, name: str, data: bytes) -> Path:
    """A copy of the artifact's zip with one more file: a different package hash."""
    target = artifact.path.with_name(f"{hashlib.sha256(name.encode()).hexdigest()[:8]}.zip")
    with zipfile.ZipFile(artifact.path) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            out.writestr(info, source.read(info))
        out.writestr(name, data)
    return target
