"""Faults on the way to the Cloud Functions API (issue 10), in-process on a fake clock: lost
connections are retried within wait-timeout (a create or update only when it was never sent),
a refused endpoint is given up on after 30 s instead of being retried for all of wait-timeout
(900 s by default), and each HTTP error the API answers becomes the action's error (403 with
the roles needed, 401 credentials, 409 another deployment), retried only where that is safe.
The GitHub OIDC request behind workload identity federation is retried the same way."""

from __future__ import annotations

import pytest
import requests

from faas_action.errors import CredentialsError, DeadlineError, ProviderError
from faas_action.providers import base
from tests.fakes.gcp_fake import FakeGcp, gcp_fake  # noqa: F401 (fixture)
from tests.fakes.network import closed_port_url
from tests.test_gcp_provider import SERVICE, Harness, gcp_env  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(60)


def test_reads_and_polls_without_answer_are_retried_on_the_clock(gcp_env: Harness):
    gcp_env.seed(same_code=False)
    gcp_env.fake.drop("GET", "/functions/fn", times=2)
    gcp_env.fake.operation_polls = 2
    gcp_env.fake.drop("GET", "/operations/", times=1)
    plan, result = gcp_env.deploy()
    assert result.changed
    assert sum("no answer, retrying" in line for line in gcp_env.log.lines) == 3


def test_an_update_sent_but_unanswered_is_sent_again_only_once_known_not_applied(gcp_env: Harness):
    """The connection closed before the service acted: the function reads as the plan saw it, so
    the update is sent again (qa-faults: an unanswered update used to fail the run)."""
    gcp_env.seed(same_code=False)
    gcp_env.fake.drop("PATCH", "/functions/fn")
    _, result = gcp_env.deploy()
    assert result.changed and len(gcp_env.fake.calls("PATCH")) == 2
    assert len(gcp_env.fake.operations) == 1


def test_a_refused_endpoint_is_given_up_on_long_before_wait_timeout(gcp_env: Harness):
    endpoint = closed_port_url()
    spec = gcp_env.spec(environ={"FAAS_GCP_ENDPOINT": endpoint})
    provider = gcp_env.connect(spec)
    with pytest.raises(ProviderError) as caught:
        provider.plan(spec, gcp_env.artifact(spec))
    assert not isinstance(caught.value, DeadlineError)
    assert "connections refused for" in caught.value.message and endpoint in caught.value.message
    assert base.REFUSED_FOR_S <= gcp_env.clock.slept <= base.REFUSED_FOR_S + 21


# -- HTTP errors: each becomes the action's error, retried only where a retry is safe -------------

PERMISSION = "Permission 'cloudfunctions.functions.get' denied on 'projects/proj-1/locations/us-central1/functions/fn'"


def test_permission_denied_names_the_roles_and_is_not_retried(gcp_env: Harness):
    gcp_env.fake.fail("GET", "/functions/fn", 403, "PERMISSION_DENIED", PERMISSION)
    with pytest.raises(ProviderError) as caught:
        gcp_env.plan()
    assert caught.value.message == f"read the function: permission denied: {PERMISSION}"
    assert "roles/cloudfunctions.developer" in caught.value.hint and "roles/iam.serviceAccountUser" in caught.value.hint
    assert len(gcp_env.fake.calls("GET", "/functions/fn")) == 1 and gcp_env.clock.sleeps == []


def test_a_refused_token_is_a_credentials_error(gcp_env: Harness):
    gcp_env.seed()
    gcp_env.fake.require_token = "ya29.another-token"
    with pytest.raises(CredentialsError, match="read the function"):
        gcp_env.plan()


def test_throttling_on_a_read_waits_as_long_as_retry_after_says(gcp_env: Harness):
    gcp_env.seed()
    gcp_env.fake.fail("GET", "/functions/fn", 429, "RESOURCE_EXHAUSTED", "Quota exceeded", times=2, retry_after="7")
    _, _, _, plan = gcp_env.plan()
    assert plan.action == "none"
    assert gcp_env.clock.sleeps == [7.0, 7.0]
    assert sum("HTTP 429, retrying in 7.0 s" in line for line in gcp_env.log.lines) == 2


def test_generate_upload_url_is_retried_on_server_errors(gcp_env: Harness):
    gcp_env.seed(same_code=False)
    gcp_env.fake.fail("POST", ":generateUploadUrl", 500, "INTERNAL", "Internal error", times=2)
    _, result = gcp_env.deploy()
    assert result.changed and len(gcp_env.fake.calls("POST", ":generateUploadUrl")) == 3


@pytest.mark.parametrize("code, status, message, expected", [
    (409, "ABORTED", "An operation on function fn is already in progress", "update the function: An operation on function fn"),
    (400, "INVALID_ARGUMENT", "Invalid value at 'function.service_config.available_memory'",
     "update the function failed: HTTP 400 Invalid value at 'function.service_config.available_memory'"),
])
def test_a_refused_update_is_reported_and_never_sent_twice(gcp_env: Harness, code, status, message, expected):
    gcp_env.seed(same_code=False)
    gcp_env.fake.fail("PATCH", "/functions/fn", code, status, message)
    with pytest.raises(ProviderError) as caught:
        gcp_env.deploy()
    assert caught.value.message.startswith(expected)
    assert ("another deployment" in caught.value.hint) is (code == 409)
    assert len(gcp_env.fake.calls("PATCH")) == 1 and gcp_env.fake.operations == {}


def test_iam_permission_denied_warns_in_the_plan_and_fails_the_apply(gcp_env: Harness):
    gcp_env.seed()
    denied = "Permission 'run.services.getIamPolicy' denied"
    gcp_env.fake.fail("GET", ":getIamPolicy", 403, "PERMISSION_DENIED", denied, times=2)
    provider, spec, artifact, plan = gcp_env.plan(allow_unauthenticated="true")
    assert plan.action == "update" and plan.state.invoker is True
    assert any(line.startswith("warning: could not read the IAM policy") and denied in line for line in gcp_env.log.lines)
    with pytest.raises(ProviderError) as caught:
        provider.apply(plan, spec, artifact)
    assert caught.value.message == f"read the IAM policy of {SERVICE}: permission denied: {denied}"
    assert "run.services.setIamPolicy" in caught.value.hint
    assert gcp_env.fake.calls("POST", ":setIamPolicy") == []


def test_a_stale_policy_etag_reads_the_policy_again(gcp_env: Harness):
    gcp_env.seed()
    gcp_env.fake.fail("POST", ":setIamPolicy", 409, "ABORTED", "There were concurrent policy changes.")
    _, result = gcp_env.deploy(allow_unauthenticated="true")
    assert result.changed and gcp_env.fake.policy_members(SERVICE) == ["allUsers"]
    assert len(gcp_env.fake.calls("GET", ":getIamPolicy")) == 3  # plan, apply, apply after the conflict
    assert len(gcp_env.fake.calls("POST", ":setIamPolicy")) == 2


# -- the REST contract the fake holds the provider to ---------------------------------------------


def test_the_fake_takes_enum_names_or_numbers_and_refuses_unknown_fields(gcp_fake: FakeGcp):
    parent = "projects/proj-1/locations/us-central1"
    url = f"{gcp_fake.url}/v2/{parent}/functions:generateUploadUrl"
    assert requests.post(url, json={"environment": "GEN_2"}, timeout=10).status_code == 200
    assert requests.post(url, params={"$alt": "json;enum-encoding=int"}, json={"environment": 2}, timeout=10).status_code == 200
    for body in ({"environment": "GEN_3"}, {"environment": 7}, {"environment": "GEN_2", "kms_key": "k"}):
        reply = requests.post(url, json=body, timeout=10)
        assert reply.status_code == 400 and reply.json()["error"]["status"] == "INVALID_ARGUMENT", body
    unknown = requests.post(f"{gcp_fake.url}/v2/{parent}/functions", params={"functionId": "fn"},
                            json={"buildConfig": {"runtime": "python312", "entry_point": "x"}}, timeout=10)
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == (
        "Invalid JSON payload received. Unknown name \"entry_point\" at 'function.build_config': Cannot find field."
    )


# -- the GitHub OIDC token behind workload identity federation (issue 10 item 9) -------------------


def wif_spec_and_environ(gcp_env: Harness, tmp_path, wait_timeout: str = "900", **source):
    """A workload identity file aimed at the fake (its OIDC endpoint, or `source` instead)."""
    import json

    from tests.test_gcp_provider import PROJECT, wif_file

    path = wif_file(tmp_path / "gha-creds-1.json", gcp_env.fake)
    if source:
        info = json.loads(path.read_text())
        info["credential_source"] = source
        path.write_text(json.dumps(info))
    spec = gcp_env.spec(project=None, gcp_access_token=None, wait_timeout=wait_timeout)
    return spec, {"GOOGLE_APPLICATION_CREDENTIALS": str(path), "GCLOUD_PROJECT": PROJECT}


def test_the_oidc_request_is_retried_on_the_clock_and_its_token_masked(gcp_env: Harness, tmp_path):
    from tests.fakes.gcp_fake import OIDC_JWT, STS_TOKEN

    gcp_env.seed()
    gcp_env.fake.require_token = STS_TOKEN
    gcp_env.fake.fail("GET", "/oidc", 503, "UNAVAILABLE", "try again", times=2)
    gcp_env.fake.fail("GET", "/oidc", 429, "RESOURCE_EXHAUSTED", "slow down", times=1)
    gcp_env.fake.drop("GET", "/oidc", times=1)
    spec, environ = wif_spec_and_environ(gcp_env, tmp_path)
    provider = gcp_env.connect(spec, environ)
    assert provider.plan(spec, gcp_env.artifact(spec)).action == "none"
    assert len(gcp_env.fake.calls(contains="/oidc")) == 5
    assert len(gcp_env.clock.sleeps) == 4  # each retry waited, on the run's clock
    assert OIDC_JWT in gcp_env.log.secrets and STS_TOKEN in gcp_env.log.secrets
    assert not [line for line in gcp_env.log.lines if OIDC_JWT in line]


def test_a_refused_oidc_request_is_not_retried(gcp_env: Harness, tmp_path):
    gcp_env.fake.fail("GET", "/oidc", 403, "PERMISSION_DENIED", "id-token permission missing")
    spec, environ = wif_spec_and_environ(gcp_env, tmp_path)
    provider = gcp_env.connect(spec, environ)
    with pytest.raises(CredentialsError) as caught:
        provider.plan(spec, gcp_env.artifact(spec))
    assert "HTTP 403" in str(caught.value) and "id-token permission missing" in str(caught.value)
    assert len(gcp_env.fake.calls(contains="/oidc")) == 1 and gcp_env.clock.sleeps == []


def test_an_oidc_endpoint_that_stays_down_ends_within_wait_timeout(gcp_env: Harness, tmp_path):
    gcp_env.fake.fail("GET", "/oidc", 503, "UNAVAILABLE", "down", times=10_000)
    spec, environ = wif_spec_and_environ(gcp_env, tmp_path, wait_timeout="60")
    provider = gcp_env.connect(spec, environ)
    with pytest.raises(CredentialsError) as caught:
        provider.plan(spec, gcp_env.artifact(spec))
    assert "GitHub OIDC token" in str(caught.value) and "did not finish within 60 s" in str(caught.value)
    assert 3 < len(gcp_env.fake.calls(contains="/oidc")) < 40
    assert gcp_env.clock.slept <= 60 + 1e-6


def test_a_subject_token_file_that_is_a_fifo_is_refused_without_blocking(gcp_env: Harness, tmp_path):
    import os

    os.mkfifo(tmp_path / "token-fifo")
    spec, environ = wif_spec_and_environ(gcp_env, tmp_path, file=str(tmp_path / "token-fifo"))
    provider = gcp_env.connect(spec, environ)
    with pytest.raises(CredentialsError) as caught:
        provider.plan(spec, gcp_env.artifact(spec))
    assert "is a FIFO (named pipe), not a regular file" in str(caught.value)
