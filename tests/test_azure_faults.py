"""Faults on the way to ARM and Kudu (issue 10), in-process on a fake clock: the SDKs' own
real-time retries are off, so every retry shows on the clock; lost connections and 5xx are
retried within wait-timeout; a refused endpoint is given up on after 30 s, not 15 minutes."""

from __future__ import annotations

import pytest

from faas_action.errors import DeadlineError, ProviderError
from faas_action.providers import base
from tests.fakes.azure_fake import FakeAzure
from tests.fakes.network import closed_port_url
from tests.test_azure_provider import artifact, connect, make_spec  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def fake():
    with FakeAzure() as server:
        yield server


def test_arm_server_errors_and_lost_connections_are_retried_on_the_clock(fake, artifact):
    fake.add_site("app", sku="FlexConsumption")
    fake.arm_failures = [503, 500]
    fake.drop("GET", "/sites/app?")
    spec = make_spec(fake)
    provider, log, clock = connect(spec)
    plan = provider.plan(spec, artifact)
    assert plan.action == "update"
    assert len(clock.sleeps) == 3, "each retry waits on the run's clock, none in azure-core"
    assert sum("retrying in" in line for line in log.lines) == 3


def test_kudu_status_polls_without_answer_are_polled_again(fake, artifact):
    fake.add_site("app", sku="FlexConsumption")
    fake.drop("GET", "/kudu/api/deployments/", times=2)
    spec = make_spec(fake)
    provider, log, _ = connect(spec)
    result = provider.apply(provider.plan(spec, artifact), spec, artifact)
    assert result.changed and result.version == list(fake.deployments)[0]
    assert sum("Kudu did not answer, retrying" in line for line in log.lines) == 2


@pytest.mark.parametrize("unreachable", ["arm", "kudu"])
def test_a_refused_endpoint_is_given_up_on_long_before_wait_timeout(fake, artifact, unreachable):
    fake.add_site("app", sku="FlexConsumption")
    endpoint = closed_port_url()
    endpoints = {"arm_endpoint": endpoint} if unreachable == "arm" else {"scm_endpoint": endpoint}
    spec = make_spec(fake, wait=900, **endpoints)
    provider, _, clock = connect(spec)
    with pytest.raises(ProviderError) as caught:
        provider.apply(provider.plan(spec, artifact), spec, artifact)
    assert not isinstance(caught.value, DeadlineError)
    assert "connections refused for" in caught.value.message and endpoint in caught.value.message
    assert base.REFUSED_FOR_S <= clock.slept <= base.REFUSED_FOR_S + 31


def test_arm_errors_without_end_stop_at_the_deadline(fake, artifact):
    fake.add_site("app")
    fake.arm_failures = [503] * 10_000
    spec = make_spec(fake, wait=45)
    provider, _, clock = connect(spec)
    with pytest.raises(DeadlineError, match=r"within 45 s: HTTP 503"):
        provider.plan(spec, artifact)
    assert clock.slept == pytest.approx(45)


def test_an_app_whose_deployments_arm_does_not_list_is_deployed(fake, artifact):
    fake.add_site("app")
    fake.fail("GET", "/sites/app/deployments", 404, times=2)  # plan's read, then apply's guard
    spec = make_spec(fake)
    provider, log, _ = connect(spec)
    plan = provider.plan(spec, artifact)
    assert plan.action == "update"
    assert provider.apply(plan, spec, artifact).changed
    assert any("cannot tell which package app runs" in line for line in log.lines)
