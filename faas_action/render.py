"""Plans and outcomes as text, Markdown and JSON.

Owns: every human- and machine-readable rendering of a run: the plan (log lines, Markdown,
JSON), the `results` and `matrix` outputs, the step summary and each function's console link.
Must not: do I/O or decide anything about a deploy.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import quote

from .dependencies import describe_target
from .models import Artifact, AwsOptions, AzureOptions, FunctionSpec, GcpOptions, Outcome, Plan, plain

if TYPE_CHECKING:
    from .release import Record


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _short(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, (dict, list, tuple)) or hasattr(value, "items"):
        return json.dumps(plain(value), sort_keys=True)
    return str(value)


def cell(text: Any) -> str:
    """Text made safe for one cell of a Markdown table (and for Markdown at large: no HTML)."""
    value = str(text)
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        value = value.replace(raw, escaped)
    return "<br>".join(part for part in value.replace("\r", "").split("\n"))


# A text that the action echoes once per function (an error, a name it refused) is clipped where
# it goes into the step summary and `results`: GitHub drops a summary over 1 MiB whole and refuses
# an output over 1 MB. The log keeps the whole text.
MAX_ECHOED = 2000
MAX_LISTED_ERRORS = 100


def clip(text: Any, limit: int = MAX_ECHOED) -> str:
    value = str(text)
    if len(value) <= limit:
        return value
    return f"{value[:limit]}... ({len(value) - limit:,} characters more: the whole text is in the log)"


def _listed(errors: Sequence[str]) -> list[str]:
    """The run's errors as summary lines: each clipped, at most MAX_LISTED_ERRORS of them."""
    lines = [f"- {cell(clip(error))}" for error in errors[:MAX_LISTED_ERRORS]]
    if len(errors) > MAX_LISTED_ERRORS:
        lines.append(f"- ... and {len(errors) - MAX_LISTED_ERRORS} more: every one is in the log")
    return lines


def code(text: Any) -> str:
    """Inline code in a table cell; backticks inside would end it, so they become quotes."""
    return f"`{cell(str(text).replace('`', chr(39)))}`"


# -- the plan ---------------------------------------------------------------------------------


def plan_text(plan: Plan) -> str:
    """The plan as log lines."""
    verb = {"create": "create", "update": "update", "none": "no change to"}[plan.action]
    lines = [f"Plan: {verb} {plan.provider} function {plan.function}"]
    old = plan.code_sha256_old or "(none)"
    new = plan.code_sha256_new or "(known once deployed)"  # an image tag ECR would not resolve
    code_note = "unchanged" if plan.code_sha256_old == plan.code_sha256_new else f"{old} -> {new}"
    lines.append(f"  code sha256: {code_note}")
    for change in plan.changes:
        lines.append(f"  {change.field}: {_short(change.old)} -> {_short(change.new)}")
    for step in plan.steps:
        lines.append(f"  - {step}")
    return "\n".join(lines)


def plan_markdown(plan: Plan) -> str:
    lines = [
        f"### faas-action plan: {plan.action} {code(plan.function)} ({plan.provider})",
        "",
        "| field | current | planned |",
        "|---|---|---|",
        f"| code sha256 | {code(plan.code_sha256_old or '(none)')} | {code(plan.code_sha256_new or '(known once deployed)')} |",
    ]
    for change in plan.changes:
        lines.append(f"| {cell(change.field)} | {code(_short(change.old))} | {code(_short(change.new))} |")
    if plan.steps:
        lines.append("")
        lines.extend(f"- {cell(step)}" for step in plan.steps)
    return "\n".join(lines) + "\n"


def plans_markdown(plans: Sequence[Plan]) -> str:
    """The summary's plan section, also the `plan-markdown` output: one block per function."""
    return "\n".join(plan_markdown(p) for p in plans)


def plans_json(plans: Sequence[Plan], artifacts: Sequence[Artifact | None] = ()) -> str:
    """The `plan` output: always a list, one entry per function. With `artifacts` (one per plan),
    each entry also says what its package holds (`package`: sizes, installed dependencies)."""
    data = [p.to_dict() for p in plans]
    for entry, artifact in zip(data, artifacts):
        if artifact is not None:
            entry["package"] = package_dict(artifact)
    return json.dumps(data, sort_keys=True, default=str)


# -- what a package holds: sizes and installed dependencies (issue 15) -------------------------


def package_dict(artifact: Artifact) -> dict[str, Any]:
    """The package's sizes and, when dependencies were installed, each with its version and size."""
    data: dict[str, Any] = {
        "size": artifact.size,
        "unzipped-size": artifact.unzipped_size,
        "files": artifact.file_count,
        "sha256": artifact.sha256,
    }
    if artifact.dependencies_platform:
        data.update({
            "source-size": artifact.source_size,
            "dependencies-size": artifact.dependencies_size,
            "dependencies-target": {"python": artifact.dependencies_python, "platform": artifact.dependencies_platform},
            "dependencies": [{"name": d.name, "version": d.version, "size": d.size} for d in artifact.distributions],
        })
    return data


def target_label(artifact: Artifact) -> str:
    """"CPython 3.12, manylinux_2_34_x86_64" for an artifact with installed dependencies."""
    return describe_target(artifact.dependencies_python, artifact.dependencies_platform)


def size_split(artifact: Artifact) -> str:
    """"12.3 MiB unzipped: 4.0 KiB source + 12.3 MiB dependencies"."""
    return (
        f"{human_size(artifact.unzipped_size)} unzipped: {human_size(artifact.source_size)} source + "
        f"{human_size(artifact.dependencies_size)} dependencies"
    )


def dependencies_text(artifact: Artifact) -> str:
    """Log lines: the size split, then each installed distribution with its version and size."""
    lines = [f"  package: {size_split(artifact)} ({len(artifact.distributions)} installed for {target_label(artifact)})"]
    lines.extend(f"    {d.name} {d.version} ({human_size(d.size)})" for d in artifact.distributions)
    return "\n".join(lines)


def dependencies_markdown(function: str, artifact: Artifact) -> str:
    """A summary section: the size split and a table of the installed distributions (a brief SBOM)."""
    lines = [
        f"#### Dependencies of {code(function)} ({target_label(artifact)})",
        "",
        f"Package {human_size(artifact.size)} zipped, {size_split(artifact)}.",
        "",
        "| dependency | version | size |",
        "|---|---|---|",
    ]
    lines.extend(f"| {cell(d.name)} | {cell(d.version)} | {human_size(d.size)} |" for d in artifact.distributions)
    return "\n".join(lines) + "\n"


def largest_dependencies(artifact: Artifact, count: int = 5) -> str:
    """"numpy 2.1.0 (60.1 MiB), pandas 2.2.3 (45.0 MiB)": the installed distributions that weigh most."""
    return ", ".join(f"{d.name} {d.version} ({human_size(d.size)})" for d in artifact.largest_distributions(count))


# -- results and matrix -------------------------------------------------------------------------


def function_outputs(outcome: Outcome) -> dict[str, str]:
    """The step outputs of one function: what the provider reported, else what is known."""
    result, artifact = outcome.result, outcome.artifact
    outputs = {
        "function-id": result.function_id if result else "",
        "version": result.version if result else "",
        "url": result.url if result else "",
        "changed": "true" if outcome.changed else "false",
        # Nothing packaged (a container image): the digest the plan resolved, unless the deploy reports one.
        "code-sha256": artifact.sha256 if artifact else (outcome.plan.code_sha256_new if outcome.plan else ""),
        "package-size": str(artifact.size) if artifact else "",
    }
    if artifact is not None and artifact.copied_to:
        outputs["package-path"] = artifact.copied_to
    if result is not None:
        outputs.update(result.outputs)
    return outputs


def result_entry(outcome: Outcome) -> dict[str, Any]:
    """One entry of the `results` output."""
    outputs = function_outputs(outcome)
    entry: dict[str, Any] = {
        **outputs,
        "function-name": clip(outcome.spec.name),  # only a name the action refused is ever that long
        "provider": outcome.spec.provider,
        "status": outcome.status,
        "changed": outcome.changed,
        "duration": round(outcome.duration_s, 3),
    }
    if outcome.error:
        entry["error"] = clip(outcome.error)
    for key in JSON_OUTPUTS:  # an output that is itself JSON is nested, not a string in a string
        if isinstance(entry.get(key), str) and entry[key][:1] in ("{", "["):
            try:
                entry[key] = json.loads(entry[key])
            except ValueError:
                pass
    return entry


JSON_OUTPUTS = ("metrics",)


def results_json(outcomes: Sequence[Outcome]) -> str:
    return json.dumps([result_entry(o) for o in outcomes], sort_keys=True)


def matrix_json(outcomes: Sequence[Outcome]) -> str:
    """`{"include": [{"function-name": ...}]}` of the functions whose plan changes something."""
    # One entry per name: `select` picks by name, so a function deployed to two regions under one
    # name is one matrix job that deploys both, never two jobs deploying both side by side.
    names = dict.fromkeys(o.spec.name for o in outcomes if o.plan is not None and o.plan.changed)
    return json.dumps({"include": [{"function-name": name} for name in names]})


# -- console links ------------------------------------------------------------------------------


def console_url(spec: FunctionSpec, function_id: str = "", version: str = "") -> str:
    """The function's page in its cloud's console ('' when it cannot be known)."""
    options = spec.options
    if isinstance(options, AwsOptions):
        return _aws_console(spec.name, options.region, function_id, version)
    if isinstance(options, AzureOptions):
        resource = function_id or (
            f"/subscriptions/{options.subscription_id}/resourceGroups/{options.resource_group}"
            f"/providers/Microsoft.Web/sites/{spec.name}" + (f"/slots/{options.slot}" if options.slot else "")
        )
        return f"https://portal.azure.com/#resource{resource}/overview"
    if isinstance(options, GcpOptions):
        project, region, name = options.project, options.region, spec.name
        parts = function_id.split("/")
        if len(parts) == 6 and parts[0] == "projects" and parts[2] == "locations":
            project, region, name = parts[1], parts[3], parts[5]
        if not project:
            return ""
        return f"https://console.cloud.google.com/functions/details/{region}/{name}?env=gen2&project={quote(project)}"
    return ""


def _aws_console(name: str, region: str, arn: str, version: str) -> str:
    partition = "aws"
    if arn.startswith("arn:"):
        parts = arn.split(":")
        partition, region, name = parts[1], parts[3] or region, parts[6]
    elif name.startswith("arn:"):
        parts = name.split(":")
        partition, region, name = parts[1], parts[3] or region, parts[6]
    host = {
        "aws-us-gov": "https://console.amazonaws-us-gov.com",
        "aws-cn": f"https://{region}.console.amazonaws.cn",
    }.get(partition, f"https://{region}.console.aws.amazon.com")
    page = f"functions/{quote(name)}"
    if version and version.isdigit():
        page += f"/versions/{version}"
    return f"{host}/lambda/home?region={region}#/{page}"


# -- the step summary ---------------------------------------------------------------------------

STATUS_MARK = {"deployed": "deployed", "unchanged": "unchanged", "failed": "**failed**", "skipped": "skipped", "planned": "planned"}


def failure_markdown(errors: Sequence[str]) -> str:
    """The step summary of a run that stopped before any function was tried."""
    lines = ["### faas-action: nothing was deployed", ""]
    lines += _listed(errors)
    return "\n".join(lines) + "\n"


def summary_markdown(outcomes: Sequence[Outcome], dry_run: bool, errors: Sequence[str] = ()) -> str:
    """The step summary: one row per function (its own status, version, URL, duration and
    console link), what failed and why, each function's extra Markdown, then the plans."""
    title = "### faas-action plan (dry run)" if dry_run else "### faas-action deploy"
    if errors and all(o.result is None and o.plan is None for o in outcomes):
        title = "### faas-action: nothing was deployed"
    lines = [title, ""]
    if errors:
        lines += _listed(errors) + [""]
    lines += [
        "| function | provider | status | version | url | changed | package size | duration | console |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        outputs = function_outputs(outcome)
        url = outputs["url"]
        link = console_url(outcome.spec, outputs["function-id"], outputs["version"])
        size = outcome.artifact.size if outcome.artifact else None
        lines.append(
            f"| {code(clip(outcome.spec.name))} | {outcome.spec.provider} | {STATUS_MARK.get(outcome.status, outcome.status)} | "
            f"{cell(outputs['version'])} | {f'[{cell(url)}]({url})' if url else ''} | "
            f"{'true' if outcome.changed else 'false'} | {human_size(size) if size is not None else ''} | "
            f"{outcome.duration_s:.1f} s | {f'[open]({link})' if link else ''} |"
        )
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        lines += ["", "#### What failed", ""]
        lines += [f"- {code(clip(o.spec.name))}: {cell(clip(o.error))}" for o in failed]
    for outcome in outcomes:
        if outcome.result is not None and outcome.result.summary:
            lines += ["", outcome.result.summary.rstrip("\n")]
    for outcome in outcomes:
        if outcome.artifact is not None and outcome.artifact.dependencies_platform:
            lines += ["", dependencies_markdown(outcome.spec.name, outcome.artifact).rstrip("\n")]
    plans = [o.plan for o in outcomes if o.plan is not None]
    if plans:
        lines += ["", plans_markdown(plans).rstrip("\n")]
    return "\n".join(lines) + "\n"


# -- the release (issue 9) ------------------------------------------------------------------------


def _figure(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def release_markdown(function: str, new_label: str, entry_label: str, record: "Record") -> str:
    """The release's timeline: step, time, weight, the new version's invocations and errors,
    the alarms' states; then how it ended."""
    if record.ok:
        outcome = f"{new_label} serves {entry_label}"
    elif record.restore_error:
        outcome = f"**failed**: {record.failure.message}; {record.restore_error}"
    else:
        outcome = f"**rolled back**: {record.failure.message}"
    lines = [
        f"#### Release of {code(function)} ({cell(record.strategy.name)}): {cell(outcome)}",
        "",
        "| step | time | weight | invocations | errors | alarms | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for event in record.events:
        alarms = ", ".join(f"{name}: {state}" for name, state in event.alarms)
        lines.append(
            f"| {cell(event.what)} | +{event.at_s:.0f} s | {event.weight}% | {_figure(event.invocations)} | "
            f"{_figure(event.errors)} | {cell(alarms)} | {cell(event.note)} |"
        )
    lines.extend(f"\n> warning: {cell(w)}" for w in record.warnings)
    return "\n".join(lines) + "\n\n"


def metrics_markdown(function: str, metrics: dict, labels: dict[str, str]) -> str:
    """The metrics table: one row per scope (function, new, old), one column per figure."""
    if not metrics:
        return ""
    names = {"function": "function (last hour)", **{k: f"{k}: {v} (during the release)" for k, v in labels.items()}}
    lines = [
        f"#### Metrics of {code(function)}",
        "",
        "| scope | invocations | errors | error rate | duration avg | duration max | throttles | concurrency max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scope, figures in metrics.items():
        duration = figures.get("Duration") or {}
        rate = figures.get("ErrorRate")
        lines.append(
            f"| {cell(names.get(scope, scope))} | {_figure(figures.get('Invocations'))} | {_figure(figures.get('Errors'))} | "
            f"{'–' if rate is None else f'{rate}%'} | {_figure(duration.get('Average'))}"
            f"{'' if duration.get('Average') is None else ' ms'} | {_figure(duration.get('Maximum'))}"
            f"{'' if duration.get('Maximum') is None else ' ms'} | {_figure(figures.get('Throttles'))} | "
            f"{_figure(figures.get('ConcurrentExecutions'))} |"
        )
    return "\n".join(lines) + "\n"
