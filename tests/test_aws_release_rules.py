"""The Lambda release's pure rules, table-driven: rollback target, pruning, the alias description
record, and folding CloudWatch's 1-minute datapoints."""

from __future__ import annotations

import pytest

from faas_action.errors import ProviderError
from faas_action.providers.aws.metrics import figures
from faas_action.providers.aws.traffic import description_with_previous, recorded_previous
from faas_action.providers.aws.versions import aliased, rollback_target, to_prune


@pytest.mark.parametrize(
    ("wanted", "current", "description", "published", "expected"),
    [
        ("previous", "5", "faas-action previous=3", ["1", "2", "3", "4", "5"], "3"),
        ("previous", "5", "deploys of main faas-action previous=3", ["1", "2", "3", "4", "5"], "3"),
        ("previous", "5", "faas-action previous=3", ["1", "2", "4", "5"], "4"),  # 3 was pruned
        ("previous", "5", "faas-action previous=5", ["1", "4", "5"], "4"),  # rolled back to itself: ignore
        ("previous", "5", "", ["1", "10", "4", "5"], "4"),  # numeric, not text order
        ("previous", "3", "faas-action previous=7", ["1", "2", "3", "7"], "7"),  # a roll forward after a rollback
        ("2", "5", "", ["1", "2", "5"], "2"),
    ],
)
def test_rollback_target(wanted, current, description, published, expected):
    assert rollback_target(wanted, current, description, published)[0] == expected


@pytest.mark.parametrize(
    ("wanted", "current", "published", "message"),
    [
        ("9", "5", ["1", "5"], "version 9 is not a published version (published: 1..5)"),
        ("previous", "1", ["1"], "no version to roll back to"),
    ],
)
def test_rollback_target_refusals(wanted, current, published, message):
    with pytest.raises(ProviderError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rollback_target(wanted, current, None, published)


@pytest.mark.parametrize(
    ("published", "keep", "protected", "expected"),
    [
        (["$LATEST", "1", "2", "3", "4", "5"], 2, set(), ["1", "2", "3"]),
        (["1", "2", "3", "4", "5"], 2, {"1", "3"}, ["2"]),
        (["1", "2", "10", "9"], 2, set(), ["1", "2"]),
        (["1", "2"], 5, set(), []),
    ],
)
def test_to_prune(published, keep, protected, expected):
    assert to_prune(published, keep, protected) == expected


def test_aliased_counts_routing_weights():
    aliases = [
        {"Name": "live", "FunctionVersion": "7", "RoutingConfig": {"AdditionalVersionWeights": {"8": 0.1}}},
        {"Name": "old", "FunctionVersion": "2", "RoutingConfig": None},
    ]
    assert aliased(aliases) == {"7", "8", "2"}


@pytest.mark.parametrize(
    ("description", "previous", "expected"),
    [
        (None, "3", "faas-action previous=3"),
        ("prod traffic", "3", "prod traffic faas-action previous=3"),
        ("prod traffic faas-action previous=2", "3", "prod traffic faas-action previous=3"),
        ("x" * 256, "3", "x" * (255 - len("faas-action previous=3")) + " faas-action previous=3"),
        ("prod", None, "prod"),
    ],
)
def test_the_alias_description_records_the_previous_version(description, previous, expected):
    recorded = description_with_previous(description, previous)
    assert recorded == expected and len(recorded) <= 256
    assert recorded_previous(recorded) == previous


def test_datapoints_fold_into_figures():
    result = figures({
        ("Invocations", "Sum"): [10, 20, 40],
        ("Errors", "Sum"): [0, 1, 0],
        ("Duration", "Sum"): [100.0, 300.0],
        ("Duration", "SampleCount"): [10, 30],
        ("Duration", "Maximum"): [30.0, 95.5],
        ("Throttles", "Sum"): [],
        ("ConcurrentExecutions", "Maximum"): [2, 5],
    })
    assert result == {
        "Invocations": 70, "Errors": 1, "ErrorRate": 1.43, "Duration": {"Average": 10, "Maximum": 95.5},
        "Throttles": 0, "ConcurrentExecutions": 5,
    }
    assert figures({})["ErrorRate"] is None and figures({})["Duration"] == {"Average": None, "Maximum": None}
