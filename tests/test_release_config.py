"""The release inputs (issue 9), table-driven: step inputs → the problems, or the ReleaseSpec."""

from __future__ import annotations

from pathlib import Path

import pytest

from faas_action import config
from faas_action.models import ReleaseSpec

AWS = {"provider": "aws", "function-name": "fn", "region": "eu-west-1", "source": "src"}
LIVE = {**AWS, "alias": "live"}


def load(inputs: dict[str, str], workspace: Path):
    values = dict(config.input_defaults())
    values.update(inputs)
    return config.load(values, {}, workspace)


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x = 1\n")
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "ping.json").write_text('{"ping": 1}')
    (tmp_path / "events" / "broken.json").write_text("{not json")
    (tmp_path.parent / "outside.json").write_text("{}")
    return tmp_path


@pytest.mark.parametrize(
    ("inputs", "fields"),
    [
        ({**AWS, "traffic": "canary"}, ["alias"]),
        ({**AWS, "traffic": "linear", "publish": "false"}, ["alias"]),
        ({**LIVE, "traffic": "canary", "publish": "false"}, ["alias"]),
        ({**LIVE, "traffic": "blue-green"}, ["traffic"]),
        ({**LIVE, "traffic-percent": "0"}, ["traffic-percent"]),
        ({**LIVE, "traffic-percent": "100"}, ["traffic-percent"]),
        ({**LIVE, "traffic-percent": "ten"}, ["traffic-percent"]),
        ({**LIVE, "traffic-interval": "0"}, ["traffic-interval"]),
        ({**LIVE, "smoke-event": "{not json"}, ["smoke-event"]),
        ({**LIVE, "smoke-event": "@events/broken.json"}, ["smoke-event"]),
        ({**LIVE, "smoke-event": "@events/missing.json"}, ["smoke-event"]),
        ({**LIVE, "smoke-event": "@../outside.json"}, ["smoke-event"]),
        ({**LIVE, "smoke-expect": "ok"}, ["smoke-expect"]),
        ({**LIVE, "max-error-rate": "two"}, ["max-error-rate"]),
        ({**LIVE, "max-error-rate": "150%"}, ["max-error-rate"]),
        ({**AWS, "max-error-rate": "2"}, ["alias"]),
        ({**AWS, "alarms": "errors"}, ["alias"]),
        ({**LIVE, "rollback": "latest"}, ["rollback"]),
        ({**LIVE, "rollback": "0"}, ["rollback"]),
        ({**AWS, "rollback": "previous"}, ["alias"]),
        ({**LIVE, "rollback": "previous", "traffic": "canary"}, ["traffic"]),
        ({**LIVE, "rollback": "3", "package": "dist.zip", "source": "."}, ["package"]),
        ({**LIVE, "keep-versions": "0"}, ["keep-versions"]),
        ({"provider": "gcp", "function-name": "fn", "region": "us-central1", "project": "my-project-1",
          "source": "src", "traffic": "canary", "smoke-event": "{}"}, ["traffic", "smoke-event"]),
    ],
)
def test_problems(ws, inputs, fields):
    result = load(inputs, ws)
    assert sorted(p.field for p in result.problems) == sorted(fields), result.problems
    assert not result.specs


def test_defaults_give_an_all_at_once_release_spec(ws):
    spec = load(AWS, ws).specs[0]
    assert spec.release == ReleaseSpec()
    assert not spec.release.gated and spec.release.rollback is None


def test_every_release_input_parses(ws):
    result = load({
        **LIVE, "traffic": "Linear", "traffic-percent": "25", "traffic-interval": "5",
        "smoke-event": "@events/ping.json", "smoke-expect": '{"ok": true}',
        "alarms": "errors-high\nlatency-p99, throttles", "max-error-rate": "2.5%", "keep-versions": "3",
    }, ws)
    assert not result.problems, result.problems
    release = result.specs[0].release
    assert release == ReleaseSpec(
        traffic="linear", traffic_percent=25, traffic_interval_s=5, smoke_event=b'{"ping": 1}',
        smoke_expect='{"ok": true}', alarms=("errors-high", "latency-p99", "throttles"), max_error_rate=2.5,
        keep_versions=3,
    )
    assert release.gated


@pytest.mark.parametrize(("value", "expected"), [("2", 2.0), ("2%", 2.0), ("0.5 %", 0.5), ("0", 0.0)])
def test_max_error_rate_takes_a_number_or_a_percentage(ws, value, expected):
    assert load({**LIVE, "max-error-rate": value}, ws).specs[0].release.max_error_rate == expected


def test_an_inline_smoke_event_and_rollback_mode(ws):
    release = load({**LIVE, "smoke-event": ' {"a": [1, 2]} ', "rollback": "previous"}, ws).specs[0].release
    assert release.smoke_event == b'{"a": [1, 2]}' and release.rollback == "previous"


def test_a_config_file_may_hold_the_smoke_event_as_yaml(ws):
    (ws / "faas.yml").write_text("smoke-event:\n  ping: 1\nalias: live\n")
    result = load({**AWS, "config": "faas.yml"}, ws)
    assert not result.problems and result.specs[0].release.smoke_event == b'{"ping": 1}'


def test_a_smoke_event_fifo_is_refused_without_blocking(ws):
    import os

    os.mkfifo(ws / "events" / "pipe.json")
    result = load({**LIVE, "smoke-event": "@events/pipe.json"}, ws)
    assert [p.field for p in result.problems] == ["smoke-event"]
    assert "FIFO" in result.problems[0].message
