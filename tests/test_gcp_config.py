"""config/gcp.py: the GCP inputs as GcpOptions (table-driven)."""

from __future__ import annotations

from pathlib import Path

import pytest

from faas_action.config import load
from faas_action.models import GcpOptions

GCP = {"provider": "gcp", "function-name": "fn", "region": "us-central1"}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return tmp_path


def options(ws: Path, environ: dict[str, str] | None = None, **inputs: str) -> GcpOptions:
    result = load({**GCP, **{k.replace("_", "-"): v for k, v in inputs.items()}}, environ or {}, ws)
    assert not result.problems, result.problems
    opts = result.specs[0].options
    assert isinstance(opts, GcpOptions)
    return opts


def test_project_is_the_input_only(ws: Path):
    # The provider resolves input > credentials > GCLOUD_PROJECT / GOOGLE_CLOUD_PROJECT; config
    # must not fold the environment in first, or the credentials' project could never win.
    env = {"GOOGLE_CLOUD_PROJECT": "env-project", "GCLOUD_PROJECT": "env-project"}
    assert options(ws, env).project is None
    assert options(ws, env, project="input-project").project == "input-project"


@pytest.mark.parametrize("inputs, attribute, expected", [
    ({"description": "Orders API"}, "description", "Orders API"),
    ({}, "description", None),
    ({"trigger_http": "true"}, "trigger_http", True),
    ({}, "trigger_http", None),
    ({"memory": "512"}, "memory", "512Mi"),
    ({"memory": "1Gi"}, "memory", "1Gi"),
    ({"timeout": "540"}, "timeout_s", 540),
    ({"ingress": "allow_internal_only"}, "ingress", "ALLOW_INTERNAL_ONLY"),
    ({"event_trigger_type": "google.cloud.pubsub.topic.v1.messagePublished",
      "event_trigger_resource": "projects/p/topics/t", "event_trigger_retry": "false"}, "event_trigger_retry", False),
    ({"allow_unauthenticated": "false"}, "allow_unauthenticated", False),
])
def test_values(ws: Path, inputs: dict[str, str], attribute: str, expected):
    assert getattr(options(ws, **inputs), attribute) == expected


def test_endpoint_from_the_environment(ws: Path):
    assert options(ws, {"FAAS_GCP_ENDPOINT": "http://127.0.0.1:8080/"}).endpoint == "http://127.0.0.1:8080"


@pytest.mark.parametrize("inputs, fields", [
    ({"trigger-http": "true", "event-trigger-type": "google.cloud.pubsub.topic.v1.messagePublished",
      "event-trigger-resource": "projects/p/topics/t"}, ["trigger-http"]),
    ({"labels": "Team=x"}, ["labels"]),
    ({"memory": "a lot", "timeout": "0"}, ["memory", "timeout"]),
    ({"region": ""}, ["region"]),
])
def test_problems(ws: Path, inputs: dict[str, str], fields: list[str]):
    result = load({**GCP, **inputs}, {}, ws)
    assert [p.field for p in result.problems] == fields
