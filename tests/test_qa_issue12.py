"""QA scenarios for issue 12 ("Ship it like a real action"), written from the issue's text.

End to end (entrypoint.py as the runner runs it, on each cloud's local server): the `plan` output
is a list for one function and for several, `plan-markdown` is byte for byte the summary's plan
section, a failing run writes a summary saying what was done, what failed and why, and each
function links to its own page in its cloud's console. Then what a new user reads and copies:
the project files, `make lint`, the pull-request comment example (its script run with a fake
`gh`, twice: one comment, updated), the README's promises.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.fakes.azure_fake import RESOURCE_GROUP, SUBSCRIPTION, TOKEN as AZURE_TOKEN, FakeAzure
from tests.fakes.gcp_fake import gcp_fake  # noqa: F401 (fixture)
from tests.fakes.network import closed_port_url
from tests.harness import ROOT
from tests.qa_checks import assert_well_behaved, results_of, write_python_app

pytestmark = pytest.mark.timeout(180)

RUN_DEADLINE_S = 60
GCP_TOKEN = "ya29.qa-issue12-token-0123456789"


def plan_section(summary: str) -> str:
    """The summary's plan section: from its first plan heading to the end."""
    at = summary.find("### faas-action plan: ")
    assert at >= 0, summary
    return summary[at:]


def assert_plan_outputs(result, functions: list[str]) -> list[dict]:
    """`plan` is a JSON list with one entry per planned function, in order, and `plan-markdown`
    is exactly the summary's plan section."""
    plans = json.loads(result.outputs["plan"])
    assert isinstance(plans, list)
    assert [p["function"] for p in plans] == functions
    assert result.outputs["plan-markdown"].rstrip("\n") == plan_section(result.summary).rstrip("\n")
    return plans


@pytest.fixture
def azure():
    with FakeAzure() as fake:
        yield fake


def azure_app(workspace: Path) -> None:
    (workspace / "host.json").write_text('{"version": "2.0"}')
    (workspace / "function_app.py").write_text("import azure.functions as func\napp = func.FunctionApp()\n")


def azure_inputs(**extra: str) -> dict[str, str]:
    return {"provider": "azure", "function-name": "app", "resource-group": RESOURCE_GROUP, "subscription-id": SUBSCRIPTION,
            "azure-access-token": AZURE_TOKEN, "wait-timeout": "20", **extra}


def gcp_inputs(**extra: str) -> dict[str, str]:
    return {"provider": "gcp", "function-name": "hello", "region": "us-central1", "project": "proj-1", "runtime": "python312",
            "entry-point": "hello", "gcp-access-token": GCP_TOKEN, "source": "app", "wait-timeout": "30", **extra}


def gcp_env(fake) -> dict[str, str]:
    return {"FAAS_GCP_ENDPOINT": fake.url, "NO_GCE_CHECK": "true"}


def summary_row(summary: str, name: str) -> list[str]:
    rows = [line for line in summary.splitlines() if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, summary
    return [cell.strip() for cell in rows[0].split("|")[1:-1]]


def console_link(row: list[str]) -> str:
    match = re.fullmatch(r"\[open\]\((.+)\)", row[-1])
    assert match, row
    return match.group(1)


# -- plan and plan-markdown, end to end -------------------------------------------------------------


def test_a_one_function_aws_deploy_and_its_dry_run_give_a_plan_list_of_one(aws_action, workspace, aws_role, function_name):
    write_python_app(workspace / "app")
    inputs = {"provider": "aws", "function-name": function_name, "source": "app", "runtime": "python3.12",
              "handler": "app.handler", "role": aws_role, "memory": "256"}
    for dry_run in ("true", "false"):
        result = aws_action.run({**inputs, "dry-run": dry_run}, timeout=RUN_DEADLINE_S)
        assert_well_behaved(result, 0, errors=0)
        (plan,) = assert_plan_outputs(result, [function_name])
        assert plan["action"] == "create" and plan["provider"] == "aws"


def test_a_one_function_azure_deploy_gives_a_plan_list_of_one(action, workspace, azure):
    azure_app(workspace)
    azure.add_site("app", sku="FlexConsumption")
    result = action.run(azure_inputs(environment="NEW_SETTING=1"), env=azure.env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    (plan,) = assert_plan_outputs(result, ["app"])
    assert plan["provider"] == "azure" and plan["action"] == "update"


def test_a_two_function_gcp_dry_run_gives_a_plan_list_of_two(action, workspace, gcp_fake):
    write_python_app(workspace / "app")
    (workspace / "faas.yml").write_text(
        "provider: gcp\nsource: app\nregion: us-central1\nproject: proj-1\nruntime: python312\nentry-point: hello\n"
        "functions:\n  - function-name: hello\n  - function-name: world\n    memory: 512Mi\n"
    )
    result = action.run({"config": "faas.yml", "gcp-access-token": GCP_TOKEN, "dry-run": "true"}, env=gcp_env(gcp_fake),
                        timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    plans = assert_plan_outputs(result, ["hello", "world"])
    assert [p["action"] for p in plans] == ["create", "create"]
    assert gcp_fake.writes() == []


def test_plan_markdown_is_the_summary_plan_section_when_one_function_fails(aws_action, workspace, aws_role, lambda_proxy):
    tag = os.urandom(3).hex()
    names = [f"qa12-{tag}-{i}" for i in range(3)]
    write_python_app(workspace / "app")
    (workspace / "faas.yml").write_text(
        f"provider: aws\nsource: app\nruntime: python3.12\nhandler: app.handler\nrole: {aws_role}\n"
        f"description: \"pipes | and <b>tags</b> and `ticks`\"\nfunctions:\n"
        f"  - function-name: {names[0]}\n  - function-name: {names[1]}\n    role: arn:aws:iam::123456789012:role/nope\n"
        f"  - function-name: {names[2]}\n"
    )
    result = aws_action.run({"config": "faas.yml"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert_plan_outputs(result, names)
    assert "<b>" not in result.outputs["plan-markdown"], "HTML in a value is shown, not rendered"


def test_an_input_error_run_still_gives_a_plan_list(aws_action, workspace, lambda_proxy):
    write_python_app(workspace / "app")
    result = aws_action.run({"provider": "aws", "function-name": "fn-x", "source": "app", "memory": "1"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    if "plan" in result.outputs:
        assert json.loads(result.outputs["plan"]) == []


# -- a failing run writes a summary: what was done, what failed and why --------------------------------


def test_a_failed_aws_run_summarises_what_was_done_what_failed_and_why(aws_action, workspace, aws_role, lambda_proxy):
    tag = os.urandom(3).hex()
    good, bad = f"qa12-{tag}-good", f"qa12-{tag}-bad"
    write_python_app(workspace / "app")
    (workspace / "faas.yml").write_text(
        f"provider: aws\nsource: app\nruntime: python3.12\nhandler: app.handler\nrole: {aws_role}\nfunctions:\n"
        f"  - function-name: {good}\n  - function-name: {bad}\n    role: arn:aws:iam::123456789012:role/nope\n"
    )
    result = aws_action.run({"config": "faas.yml"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "deployed" in summary_row(result.summary, good)[2]
    assert "failed" in summary_row(result.summary, bad)[2]
    failed = result.summary[result.summary.index("#### What failed"):]
    (entry,) = [e for e in results_of(result) if e["status"] == "failed"]
    assert bad in failed and entry["error"].split(":")[-1].strip()[:30] in failed


def test_a_failed_azure_deployment_writes_a_summary_with_the_reason(action, workspace, azure):
    azure_app(workspace)
    azure.add_site("app", sku="FlexConsumption")
    azure.statuses = [1, 3]
    result = action.run(azure_inputs(), env=azure.env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "failed" in summary_row(result.summary, "app")[2]
    assert "What failed" in result.summary and "Failed" in result.summary.split("What failed", 1)[1]


def test_a_failed_gcp_build_writes_a_summary_with_the_build_error(action, workspace, gcp_fake):
    write_python_app(workspace / "app")
    gcp_fake.build_failure = "pip install failed: No matching distribution found for qa-missing-pkg"
    result = action.run(gcp_inputs(), env=gcp_env(gcp_fake), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "qa-missing-pkg" in result.summary.split("What failed", 1)[1]


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_an_unreachable_cloud_writes_a_summary_naming_the_failure(action, workspace, provider):
    write_python_app(workspace / "app")
    azure_app(workspace / "app")
    nowhere = closed_port_url()
    inputs = {"aws": {"provider": "aws", "function-name": "fn-gone", "source": "app", "wait-timeout": "3"},
              "azure": azure_inputs(source="app", **{"wait-timeout": "3"}),
              "gcp": gcp_inputs(**{"wait-timeout": "3"})}[provider]
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "secret-key", "AWS_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": nowhere, "FAAS_AZURE_ARM_ENDPOINT": nowhere,
           "FAAS_AZURE_SCM_ENDPOINT": nowhere, "FAAS_GCP_ENDPOINT": nowhere, "NO_GCE_CHECK": "true"}
    result = action.run(inputs, env=env, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=1)
    assert "What failed" in result.summary and nowhere.split("//")[1] in result.summary


def test_an_input_error_run_writes_a_summary_with_every_problem(aws_action, workspace, lambda_proxy):
    write_python_app(workspace / "app")
    result = aws_action.run({"provider": "aws", "function-name": "bad name!", "source": "app", "memory": "1",
                             "timeout": "0"}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 1, errors=3)
    for field in ("function-name", "memory", "timeout"):
        assert field in result.summary, result.summary


# -- console links, end to end ------------------------------------------------------------------------


def test_aws_console_link_names_the_region_function_and_published_version(aws_action, workspace, aws_role, function_name,
                                                                         lambda_proxy):
    write_python_app(workspace / "app")
    inputs = {"provider": "aws", "function-name": function_name, "source": "app", "runtime": "python3.12",
              "handler": "app.handler", "role": aws_role}
    assert_well_behaved(aws_action.run(inputs, timeout=RUN_DEADLINE_S), 0, errors=0)
    write_python_app(workspace / "app", body="return 'v2'")
    result = aws_action.run(inputs, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert result.outputs["version"] == "2"
    assert console_link(summary_row(result.summary, function_name)) == (
        f"https://us-east-1.console.aws.amazon.com/lambda/home?region=us-east-1#/functions/{function_name}/versions/2")


def test_aws_console_link_of_a_function_named_by_its_arn(aws_action, workspace, aws_role, function_name, lambda_proxy):
    """Created by its name (moto files a function created by its ARN under the whole ARN), then
    updated by its ARN."""
    write_python_app(workspace / "app")
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    inputs = {"provider": "aws", "function-name": function_name, "source": "app", "runtime": "python3.12",
              "handler": "app.handler", "role": aws_role, "publish": "false"}
    assert_well_behaved(aws_action.run(inputs, timeout=RUN_DEADLINE_S), 0, errors=0)
    write_python_app(workspace / "app", body="return 'v2'")
    result = aws_action.run({**inputs, "function-name": arn}, timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    row = summary_row(result.summary, arn)
    assert console_link(row) == f"https://us-east-1.console.aws.amazon.com/lambda/home?region=us-east-1#/functions/{function_name}"


@pytest.mark.parametrize("slot", ["", "staging"])
def test_azure_console_link_is_the_function_apps_portal_page(action, workspace, azure, slot):
    azure_app(workspace)
    azure.add_site("app", sku="ElasticPremium")
    if slot:
        azure.add_site("app", slot=slot, sku="ElasticPremium")
        azure.kudu_target = ("app", slot)
    result = action.run(azure_inputs(**({"slot": slot} if slot else {})), env=azure.env(), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    site = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Web/sites/app"
    expected = f"https://portal.azure.com/#resource{site}{'/slots/' + slot if slot else ''}/overview"
    assert console_link(summary_row(result.summary, "app")) == expected


def test_gcp_console_link_is_the_functions_page_in_its_project_and_region(action, workspace, gcp_fake):
    write_python_app(workspace / "app")
    result = action.run(gcp_inputs(region="europe-west1"), env=gcp_env(gcp_fake), timeout=RUN_DEADLINE_S)
    assert_well_behaved(result, 0, errors=0)
    assert console_link(summary_row(result.summary, "hello")) == (
        "https://console.cloud.google.com/functions/details/europe-west1/hello?env=gen2&project=proj-1")


# -- an Azure run loads only what it uses ----------------------------------------------------------


def test_an_azure_run_loads_neither_botocore_nor_google(action, workspace, azure, tmp_path):
    from tests.test_package_fast import SYS_MODULES_SCRIPT

    azure_app(workspace)
    azure.add_site("app", sku="FlexConsumption")
    modules_out = tmp_path / "modules.json"
    env = action.env_for(azure_inputs(), {**azure.env(), "MODULES_OUT": str(modules_out)})
    proc = subprocess.run([sys.executable, "-c", SYS_MODULES_SCRIPT.format(root=str(ROOT))], cwd=workspace, env=env,
                          capture_output=True, text=True, timeout=RUN_DEADLINE_S, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(modules_out.read_text())
    assert report["code"] == 0, proc.stdout
    assert any(m.startswith("azure.mgmt.web") for m in report["modules"])
    others = [m for m in report["modules"] if m.split(".")[0] in ("botocore", "boto3", "google", "grpc")]
    assert others == [], others[:10]


# -- project files ----------------------------------------------------------------------------------


def test_license_is_mit_as_pyproject_says():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    license_field = project.get("license")
    text = license_field if isinstance(license_field, str) else (license_field or {}).get("text", "")
    assert "MIT" in text or any("MIT" in c for c in project.get("classifiers", []))
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "Permission is hereby granted, free of charge" in licence


def test_changelog_is_keep_a_changelog_with_the_current_version_released():
    text = (ROOT / "CHANGELOG.md").read_text()
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert "keepachangelog.com" in text and "## [Unreleased]" in text
    assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.M)
    sections = re.findall(r"^### (\w+)", text, re.M)
    assert set(sections) <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, set(sections)


def test_security_policy_says_how_to_report_and_what_is_never_done_with_credentials():
    text = (ROOT / "SECURITY.md").read_text()
    assert re.search(r"report", text, re.I) and "privately" in text.lower()
    assert "credentials" in text.lower() and re.search(r"\bnever\b", text)


def test_make_lint_passes_and_covers_both_workflow_folders():
    proc = subprocess.run(["make", "lint"], cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    commands = proc.stdout.splitlines()
    actionlint = [c for c in commands if "actionlint" in c.split()[0]]
    schema = [c for c in commands if "check-jsonschema" in c and "vendor.github-workflows" in c]
    for lines in (actionlint, schema):
        assert lines and ".github/workflows/" in lines[0] and "examples/workflows/" in lines[0], commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make lint" in ci


def test_the_default_branch_action_yml_builds_the_dockerfile():
    assert yaml.safe_load((ROOT / "action.yml").read_text())["runs"] == {"using": "docker", "image": "Dockerfile"}


def test_release_workflow_builds_both_platforms_for_ghcr_on_a_version_tag():
    release = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    on = release.get("on", release.get(True))
    # GitHub's filter syntax: `+` repeats the preceding character class, `.` is literal.
    patterns = [re.compile(p.replace(".", r"\.")) for p in on["push"]["tags"]]
    assert any(p.fullmatch("v1.2.3") for p in patterns) and not any(p.fullmatch(t) for p in patterns for t in ("v1", "1.2.3"))
    steps = [s for job in release["jobs"].values() for s in job["steps"]]
    uses = {str(s.get("uses", "")).split("@")[0] for s in steps}
    assert {"docker/setup-buildx-action", "docker/login-action", "docker/build-push-action", "docker/metadata-action"} <= uses
    build = next(s for s in steps if str(s.get("uses", "")).startswith("docker/build-push-action"))
    assert set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    meta = next(s for s in steps if str(s.get("uses", "")).startswith("docker/metadata-action"))
    patterns = meta["with"]["tags"]
    for pattern in ("{{version}}", "{{major}}.{{minor}}", "{{major}}"):
        assert f"pattern={pattern}" in patterns
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert "ghcr.io/" in text and "/faas-action" in text and "pin-image" in text


# -- the pull-request comment example: one sticky comment ------------------------------------------


FAKE_GH = r"""#!/usr/bin/env python3
import json, os, sys
state_path = os.environ["FAKE_GH_STATE"]
state = json.load(open(state_path))
args = sys.argv[1:]
state["calls"].append(args)
if "--paginate" in args:
    marker = "<!-- faas-action-plan -->"
    for comment in state["comments"]:
        if comment["body"].startswith(marker):
            print(comment["id"])
else:
    method = args[args.index("--method") + 1]
    body = next(a[len("body="):] for a in args if a.startswith("body="))
    if method == "POST":
        state["comments"].append({"id": 1000 + len(state["comments"]), "body": body})
    else:
        comment_id = int(next(a for a in args if "/comments/" in a).rsplit("/", 1)[1])
        for comment in state["comments"]:
            if comment["id"] == comment_id:
                comment["body"] = body
json.dump(state, open(state_path, "w"))
"""


def test_the_pr_plan_example_posts_one_comment_and_updates_it(tmp_path):
    workflow = yaml.safe_load((ROOT / "examples" / "workflows" / "pr-plan.yml").read_text())
    on = workflow.get("on", workflow.get(True))
    assert "pull_request" in on
    (job,) = workflow["jobs"].values()
    assert "head.repo.full_name == github.repository" in job.get("if", ""), "forks get no OIDC token: skipped"
    step = next(s for s in job["steps"] if "plan-markdown" in json.dumps(s.get("env", {})))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(FAKE_GH)
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"comments": [{"id": 7, "body": "an unrelated comment"}], "calls": []}))
    plans = ["### faas-action plan: update `api` (aws)\n\n| a | b |\n|---|---|\n| `$(touch pwned)` | \"q\" 'x' `y` % \\n |\n",
             "### faas-action plan: no change to `api` (aws)\n"]
    for plan in plans:
        env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_GH_STATE": str(state), "GH_TOKEN": "t", "PLAN": plan,
               "PR": "42", "GITHUB_REPOSITORY": "octo/app"}
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        comments = json.loads(state.read_text())["comments"]
        ours = [c for c in comments if c["id"] != 7]
        assert len(ours) == 1, comments
        assert ours[0]["body"] == "<!-- faas-action-plan -->\n" + plan.rstrip("\n")
    assert not (tmp_path / "pwned").exists()


# -- the README, as a new user reads it ---------------------------------------------------------------


def test_readme_tells_a_new_user_how_to_pin_where_it_runs_and_what_each_cloud_needs():
    text = (ROOT / "README.md").read_text()
    assert re.search(r"@v1\b", text) and re.search(r"@[0-9a-f]{40}", text), "a release tag and a full commit SHA"
    assert "Dependabot" in text and "package-ecosystem: github-actions" in text
    assert "Linux" in text and re.search(r"self-hosted runners need Docker", text, re.I)
    assert re.search(r"hop.limit", text, re.I)
    sections = re.split(r"^## ", text, flags=re.M)
    quick = {s.split("\n", 1)[0]: s for s in sections if s.startswith("Quick start")}
    assert len(quick) == 3, list(quick)
    needs = {"AWS": r"IAM|lambda:", "Azure": r"Website Contributor|role", "Google": r"roles/cloudfunctions"}
    for cloud, pattern in needs.items():
        (body,) = [b for title, b in quick.items() if cloud in title]
        assert re.search(pattern, body), f"the {cloud} quick start does not say what access it needs"


def test_readme_notes_that_forks_get_no_oidc_token():
    text = (ROOT / "README.md").read_text()
    assert re.search(r"forks? get no OIDC token", text)
