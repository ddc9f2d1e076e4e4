"""Faults on the way to the Cloud Functions API (issue 10), in-process on a fake clock: lost
connections are retried within wait-timeout (a create or update only when it was never sent),
and a refused endpoint is given up on after 30 s instead of being retried for all of
wait-timeout (900 s by default)."""

from __future__ import annotations

import pytest

from faas_action.errors import DeadlineError, ProviderError
from faas_action.providers import base
from tests.fakes.gcp_fake import gcp_fake  # noqa: F401 (fixture)
from tests.fakes.network import closed_port_url
from tests.test_gcp_provider import Harness, gcp_env  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(60)


def test_reads_and_polls_without_answer_are_retried_on_the_clock(gcp_env: Harness):
    gcp_env.seed(same_code=False)
    gcp_env.fake.drop("GET", "/functions/fn", times=2)
    gcp_env.fake.operation_polls = 2
    gcp_env.fake.drop("GET", "/operations/", times=1)
    plan, result = gcp_env.deploy()
    assert result.changed
    assert sum("no answer, retrying" in line for line in gcp_env.log.lines) == 3


def test_an_update_sent_but_unanswered_is_not_sent_again(gcp_env: Harness):
    gcp_env.seed(same_code=False)
    gcp_env.fake.drop("PATCH", "/functions/fn")
    with pytest.raises(ProviderError, match="update the function: cannot reach"):
        gcp_env.deploy()
    assert len(gcp_env.fake.calls("PATCH")) == 1


def test_a_refused_endpoint_is_given_up_on_long_before_wait_timeout(gcp_env: Harness):
    endpoint = closed_port_url()
    spec = gcp_env.spec(environ={"FAAS_GCP_ENDPOINT": endpoint})
    provider = gcp_env.connect(spec)
    with pytest.raises(ProviderError) as caught:
        provider.plan(spec, gcp_env.artifact(spec))
    assert not isinstance(caught.value, DeadlineError)
    assert "connections refused for" in caught.value.message and endpoint in caught.value.message
    assert base.REFUSED_FOR_S <= gcp_env.clock.slept <= base.REFUSED_FOR_S + 21
