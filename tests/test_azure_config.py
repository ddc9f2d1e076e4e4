"""Azure input rules (config/azure.py), table-driven."""

from __future__ import annotations

import pytest

from faas_action import config
from faas_action.models import AzureOptions

AZURE = {
    "provider": "azure",
    "function-name": "my-app",
    "resource-group": "rg",
    "subscription-id": "00000000-0000-0000-0000-000000000000",
}


def load(inputs, workspace, environ=None):
    values = dict(config.input_defaults())
    values.update(inputs)
    return config.load(values, environ or {}, workspace)


@pytest.mark.parametrize(
    ("inputs", "environ", "problems"),
    [
        ({**AZURE, "swap": "true"}, {}, ["swap: `swap: true` needs a `slot` (not production) to swap into production"]),
        (
            {**AZURE, "slot": "production", "swap": "true"},
            {},
            ["swap: `swap: true` needs a `slot` (not production) to swap into production"],
        ),
        ({**AZURE, "slot": "-bad", "swap": "true"}, {}, ["slot: '-bad' is not a slot name"]),
        ({**AZURE, "swap": "maybe"}, {}, ["swap: 'maybe' is not a boolean (true or false)"]),
        ({**AZURE, "client-id": "me"}, {}, ["client-id: 'me' is not a client id (GUID)"]),
        (
            {**AZURE},
            {"FAAS_AZURE_SCM_ENDPOINT": "kudu.local"},
            ["FAAS_AZURE_SCM_ENDPOINT must be a base URL such as https://host, got 'kudu.local'"],
        ),
        ({**AZURE, "subscription-id": ""}, {"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-0000000000ff"}, []),
    ],
)
def test_azure_problems(tmp_path, inputs, environ, problems):
    result = load(inputs, tmp_path, environ)
    assert [str(p) for p in result.problems] == problems


def test_azure_options(tmp_path):
    environ = {
        "FAAS_AZURE_ARM_ENDPOINT": "http://127.0.0.1:8080/arm/",
        "FAAS_AZURE_SCM_ENDPOINT": "https://kudu.internal/scm/",
        "AZURE_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
        "AZURE_TENANT_ID": "contoso.onmicrosoft.com",
    }
    result = load(
        {**AZURE, "slot": "Staging", "swap": "true", "deploy-method": "ZipDeploy", "azure-access-token": "tok-123"},
        tmp_path,
        environ,
    )
    assert not result.problems
    options = result.specs[0].options
    assert options == AzureOptions(
        resource_group="rg",
        subscription_id="00000000-0000-0000-0000-000000000000",
        slot="Staging",
        swap=True,
        deploy_method="zipdeploy",
        client_id="11111111-2222-3333-4444-555555555555",
        tenant_id="contoso.onmicrosoft.com",
        access_token="tok-123",
        arm_endpoint="http://127.0.0.1:8080/arm",  # path prefix kept, trailing slash dropped
        scm_endpoint="https://kudu.internal/scm",
    )
    assert "tok-123" not in repr(options)
    assert "tok-123" in result.secrets


def test_slot_production_means_the_app_itself(tmp_path):
    result = load({**AZURE, "slot": "production"}, tmp_path)
    assert result.specs[0].options.slot is None
