"""Rendering a run: console links, the results/matrix outputs, and the summary in every case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faas_action import render
from faas_action.models import (
    Artifact, AwsOptions, AzureOptions, Change, DeployResult, FunctionSpec, GcpOptions, Outcome, Plan,
)


def spec(provider: str, name: str, **options) -> FunctionSpec:
    built = {
        "aws": lambda: AwsOptions(region=options.get("region", "eu-west-1")),
        "azure": lambda: AzureOptions(resource_group="rg-app", subscription_id="0000-sub", slot=options.get("slot")),
        "gcp": lambda: GcpOptions(project=options.get("project", "proj-1"), region="us-central1"),
    }[provider]()
    return FunctionSpec(provider=provider, name=name, source=Path("."), package=None, options=built)


@pytest.mark.parametrize(
    ("the_spec", "function_id", "version", "expected"),
    [
        (spec("aws", "api"), "arn:aws:lambda:eu-west-1:123456789012:function:api", "7",
         "https://eu-west-1.console.aws.amazon.com/lambda/home?region=eu-west-1#/functions/api/versions/7"),
        (spec("aws", "api"), "arn:aws:lambda:eu-west-1:123456789012:function:api", "$LATEST",
         "https://eu-west-1.console.aws.amazon.com/lambda/home?region=eu-west-1#/functions/api"),
        (spec("aws", "api", region="us-east-2"), "", "",  # not deployed: from the inputs
         "https://us-east-2.console.aws.amazon.com/lambda/home?region=us-east-2#/functions/api"),
        (spec("aws", "api"), "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:api", "",
         "https://console.amazonaws-us-gov.com/lambda/home?region=us-gov-west-1#/functions/api"),
        (spec("aws", "api"), "arn:aws-cn:lambda:cn-north-1:123456789012:function:api", "",
         "https://cn-north-1.console.amazonaws.cn/lambda/home?region=cn-north-1#/functions/api"),
        (spec("azure", "app"), "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Web/sites/app", "",
         "https://portal.azure.com/#resource/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Web/sites/app/overview"),
        (spec("azure", "app", slot="staging"), "", "",
         "https://portal.azure.com/#resource/subscriptions/0000-sub/resourceGroups/rg-app/providers/Microsoft.Web/sites/app/slots/staging/overview"),
        (spec("gcp", "hello"), "projects/p2/locations/europe-west1/functions/hello", "hello-00002-abc",
         "https://console.cloud.google.com/functions/details/europe-west1/hello?env=gen2&project=p2"),
        (spec("gcp", "hello", project="proj-9"), "", "",
         "https://console.cloud.google.com/functions/details/us-central1/hello?env=gen2&project=proj-9"),
        (spec("gcp", "hello", project=None), "", "", ""),
    ],
)
def test_console_links(the_spec, function_id, version, expected):
    assert render.console_url(the_spec, function_id, version) == expected


def plan_for(name: str, action: str) -> Plan:
    changes = (Change("MemorySize", 128, 256),) if action != "none" else ()
    return Plan(provider="aws", function=name, action=action, changes=changes, code_sha256_old="a", code_sha256_new="b",
                steps=("update configuration: MemorySize",) if changes else ())


ARTIFACT = Artifact(path=Path("/tmp/x.zip"), size=2048, sha256="c2hh", sha256_hex="73", unzipped_size=4096, file_count=3)


def test_summary_of_a_partly_failed_run_shows_every_function_and_why():
    outcomes = [
        Outcome(spec("aws", "one"), "deployed", plan_for("one", "update"),
                DeployResult("arn:aws:lambda:eu-west-1:1:function:one", True, "3", "https://u.example/"), ARTIFACT, duration_s=2.5),
        Outcome(spec("aws", "two"), "failed", plan_for("two", "update"), None, ARTIFACT,
                error="creating two failed: InvalidParameterValueException: bad | role\n::warning::x", duration_s=0.4),
        Outcome(spec("aws", "three"), "skipped", artifact=ARTIFACT),
    ]
    summary = render.summary_markdown(outcomes, dry_run=False)
    rows = [line for line in summary.splitlines() if line.startswith("| `")]
    assert [row.split("|")[3].strip() for row in rows] == ["deployed", "**failed**", "skipped"]
    assert "| 2.5 s |" in rows[0] and "| 0.4 s |" in rows[1]  # each function its own duration
    assert "versions/3" in rows[0]
    assert "bad \\| role" in summary  # table-safe
    assert not any(line.startswith("::") for line in summary.splitlines())
    plans = render.plans_markdown([o.plan for o in outcomes if o.plan])
    assert summary.rstrip().endswith(plans.rstrip())  # plan-markdown is the summary's plan section


def test_results_and_matrix():
    outcomes = [
        Outcome(spec("aws", "one"), "planned", plan_for("one", "update"), None, ARTIFACT),
        Outcome(spec("aws", "two"), "unchanged", plan_for("two", "none"), None, ARTIFACT),
    ]
    assert json.loads(render.matrix_json(outcomes)) == {"include": [{"function-name": "one"}]}
    one, two = json.loads(render.results_json(outcomes))
    assert one["changed"] is True and two["changed"] is False
    assert set(one) >= {"function-name", "provider", "status", "version", "url", "function-id", "changed",
                        "code-sha256", "package-size", "duration"}
    assert json.loads(render.plans_json([outcomes[0].plan])) == [outcomes[0].plan.to_dict()]


def test_a_run_that_stopped_early_still_summarises_why():
    text = render.failure_markdown(["invalid input: memory: 1 is outside 128..10240 MB"])
    assert "nothing was deployed" in text and "memory" in text
