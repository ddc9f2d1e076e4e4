"""CloudWatch reads for a release: alarm states, the error-rate gate's figures, the metrics summary.

Owns: DescribeAlarms and GetMetricData through botocore's paginators, bounded and retried on
LambdaCalls' one retry loop (the CloudWatch client is adopted for per-request timeouts); the
AWS/Lambda metric names, statistics and dimensions (FunctionName; Resource `<function>:<alias>`;
ExecutedVersion); folding 1-minute datapoints into one figure per metric.
Must not: decide whether a gate passes (release.py does), change anything, or sleep except
through a Deadline on the injected clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping, Sequence

from ...errors import ProviderError
from ...release import AlarmState
from ..base import Deadline
from .client import LambdaCalls, cause_code

NAMESPACE = "AWS/Lambda"
PERIOD_S = 60  # CloudWatch's standard resolution for Lambda's metrics
# What is read for every scope of the summary. Duration's average is folded from Sum and
# SampleCount, so that 1-minute datapoints add up exactly over any window.
SUMMARY = (
    ("Invocations", "Sum"),
    ("Errors", "Sum"),
    ("Duration", "Sum"),
    ("Duration", "SampleCount"),
    ("Duration", "Maximum"),
    ("Throttles", "Sum"),
    ("ConcurrentExecutions", "Maximum"),
)
GATE = (("Invocations", "Sum"), ("Errors", "Sum"))
ACCESS_DENIED = ("AccessDenied", "AccessDeniedException")


def dimensions(function: str, alias: str | None = None, version: str | None = None) -> list[dict[str, str]]:
    """Lambda's dimensions: the function; through an alias; and the version that ran."""
    dims = [{"Name": "FunctionName", "Value": function}]
    if alias:
        dims.append({"Name": "Resource", "Value": f"{function}:{alias}"})
    if version:
        dims.append({"Name": "ExecutedVersion", "Value": version})
    return dims


def minute_floor(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


class CloudWatch:
    """A lazily created CloudWatch client, read through `calls`' bounded retries."""

    def __init__(self, client_factory: Callable[[], Any], calls: LambdaCalls) -> None:
        self.client_factory = client_factory
        self.calls = calls
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = LambdaCalls.adopt(self.client_factory())
        return self._client

    # -- alarms --------------------------------------------------------------------------------
    def missing_alarms(self, names: Sequence[str], deadline: Deadline) -> list[str]:
        """The names that no metric or composite alarm has."""
        found = {a["AlarmName"] for a in self._alarms(names, deadline)}
        return [name for name in names if name not in found]

    def alarm_states(self, names: Sequence[str], started: dt.datetime, deadline: Deadline) -> tuple[AlarmState, ...]:
        """Each alarm's state, and whether it entered it after `started` (StateUpdatedTimestamp)."""
        alarms = {a["AlarmName"]: a for a in self._alarms(names, deadline)}
        missing = [name for name in names if name not in alarms]
        if missing:
            raise ProviderError(f"CloudWatch has no alarm named {', '.join(missing)}", hint="check the `alarms` input and the region")
        states = []
        for name in names:
            alarm = alarms[name]
            updated = alarm.get("StateUpdatedTimestamp")
            changed = isinstance(updated, dt.datetime) and updated.astimezone(dt.timezone.utc) > started
            states.append(AlarmState(name, alarm.get("StateValue", ""), changed, alarm.get("StateReason", "")[:200]))
        return tuple(states)

    def _alarms(self, names: Sequence[str], deadline: Deadline) -> list[dict]:
        alarms: list[dict] = []
        for start in range(0, len(names), 100):  # DescribeAlarms takes 100 names at most
            for page in self._pages(deadline, "describe_alarms", "cloudwatch:DescribeAlarms",
                                    AlarmNames=list(names[start:start + 100]),
                                    AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
                alarms.extend(page.get("MetricAlarms", []))
                alarms.extend(page.get("CompositeAlarms", []))
        return alarms

    # -- metrics -------------------------------------------------------------------------------
    def read(
        self,
        scopes: Mapping[str, list[dict[str, str]]],
        metrics: Sequence[tuple[str, str]],
        start: dt.datetime,
        end: dt.datetime,
        deadline: Deadline,
    ) -> dict[str, dict[tuple[str, str], list[tuple[dt.datetime, float]]]]:
        """Every (metric, statistic) for every scope's dimensions, in one GetMetricData request
        (paged by botocore): {scope: {(metric, stat): [(minute, value), ...]}}."""
        queries, keys = [], {}
        for s_index, (scope, dims) in enumerate(scopes.items()):
            for m_index, (metric, stat) in enumerate(metrics):
                query_id = f"q{s_index}_{m_index}"
                keys[query_id] = (scope, (metric, stat))
                queries.append({
                    "Id": query_id,
                    "MetricStat": {
                        "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dims},
                        "Period": PERIOD_S,
                        "Stat": stat,
                    },
                    "ReturnData": True,
                })
        values: dict[str, dict[tuple[str, str], list[tuple[dt.datetime, float]]]] = {
            scope: {m: [] for m in metrics} for scope in scopes
        }
        pages = self._pages(deadline, "get_metric_data", "cloudwatch:GetMetricData", MetricDataQueries=queries,
                            StartTime=minute_floor(start), EndTime=minute_floor(end) + dt.timedelta(seconds=PERIOD_S))
        for page in pages:
            for result in page.get("MetricDataResults", []):
                if result.get("Id") in keys:
                    scope, key = keys[result["Id"]]
                    stamps = [_utc(s) for s in result.get("Timestamps", [])]
                    values[scope][key].extend(zip(stamps, (float(v) for v in result.get("Values", []))))
        return values

    def counts(self, dims: list[dict[str, str]], start: dt.datetime, end: dt.datetime, deadline: Deadline) -> tuple[float, float]:
        """Invocations and Errors (sums) for one set of dimensions."""
        values = self.read({"gate": dims}, GATE, start, end, deadline)["gate"]
        return sum(v for _, v in values[("Invocations", "Sum")]), sum(v for _, v in values[("Errors", "Sum")])

    def summary(
        self, scopes: Mapping[str, tuple[list[dict[str, str]], dt.datetime]], end: dt.datetime, deadline: Deadline
    ) -> dict[str, dict[str, Any]]:
        """The summary figures of each scope ({scope: (dimensions, start)}), in one request that
        spans the earliest start; each scope keeps only its own window's datapoints."""
        start = min(since for _, since in scopes.values())
        raw = self.read({scope: dims for scope, (dims, _) in scopes.items()}, SUMMARY, start, end, deadline)
        result = {}
        for scope, values in raw.items():
            since = minute_floor(scopes[scope][1])
            result[scope] = figures({key: [v for stamp, v in points if stamp >= since] for key, points in values.items()})
        return result

    # -- paging, bounded ------------------------------------------------------------------------
    def _pages(self, deadline: Deadline, operation: str, action: str, **params: Any) -> list[dict]:
        """Every page (a failed page reads again from the start); a refusal names `action`."""
        client = self.client
        try:
            return self.calls.run(deadline, action, lambda: list(client.get_paginator(operation).paginate(**params)))
        except ProviderError as exc:
            if cause_code(exc) in ACCESS_DENIED:
                raise ProviderError(exc.message, hint=f"the role needs {action}") from exc.__cause__
            raise


def figures(values: Mapping[tuple[str, str], list[float]]) -> dict[str, Any]:
    """1-minute datapoints → the figures under their CloudWatch names (ErrorRate in percent,
    Duration in ms; None where there was no datapoint)."""
    invocations = sum(values.get(("Invocations", "Sum"), []))
    errors = sum(values.get(("Errors", "Sum"), []))
    samples = sum(values.get(("Duration", "SampleCount"), []))
    maxima = values.get(("Duration", "Maximum"), [])
    concurrency = values.get(("ConcurrentExecutions", "Maximum"), [])
    return {
        "Invocations": _number(invocations),
        "Errors": _number(errors),
        "ErrorRate": round(100.0 * errors / invocations, 2) if invocations else None,
        "Duration": {
            "Average": round(sum(values.get(("Duration", "Sum"), [])) / samples, 2) if samples else None,
            "Maximum": _number(max(maxima)) if maxima else None,
        },
        "Throttles": _number(sum(values.get(("Throttles", "Sum"), []))),
        "ConcurrentExecutions": _number(max(concurrency)) if concurrency else None,
    }


def _utc(moment: Any) -> dt.datetime:
    if isinstance(moment, dt.datetime):
        return moment.astimezone(dt.timezone.utc) if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.min.replace(tzinfo=dt.timezone.utc)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)
