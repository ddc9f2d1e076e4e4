"""Plans and results as text, Markdown and JSON.

Owns: every human- and machine-readable rendering of a Plan or DeployResult.
Must not: do I/O or decide anything about a deploy.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from .dependencies import describe_target
from .models import Artifact, DeployResult, Plan, plain


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


def plan_text(plan: Plan) -> str:
    """The plan as log lines."""
    verb = {"create": "create", "update": "update", "none": "no change to"}[plan.action]
    lines = [f"Plan: {verb} {plan.provider} function {plan.function}"]
    old = plan.code_sha256_old or "(none)"
    code_note = "unchanged" if plan.code_sha256_old == plan.code_sha256_new else f"{old} -> {plan.code_sha256_new}"
    lines.append(f"  code sha256: {code_note}")
    for change in plan.changes:
        lines.append(f"  {change.field}: {_short(change.old)} -> {_short(change.new)}")
    for step in plan.steps:
        lines.append(f"  - {step}")
    return "\n".join(lines)


def plan_markdown(plan: Plan) -> str:
    lines = [
        f"### faas-action plan: {plan.action} `{plan.function}` ({plan.provider})",
        "",
        "| field | current | planned |",
        "|---|---|---|",
        f"| code sha256 | `{plan.code_sha256_old or '(none)'}` | `{plan.code_sha256_new}` |",
    ]
    for change in plan.changes:
        lines.append(f"| {change.field} | `{_short(change.old)}` | `{_short(change.new)}` |")
    if plan.steps:
        lines.append("")
        lines.extend(f"- {step}" for step in plan.steps)
    return "\n".join(lines) + "\n"


def plans_json(plans: Sequence[Plan], artifacts: Sequence[Artifact] = ()) -> str:
    """The `plan` output; with `artifacts` (one per plan), each plan also says what its package holds."""
    data: Any = [p.to_dict() for p in plans]
    for plan_data, artifact in zip(data, artifacts):
        plan_data["package"] = package_dict(artifact)
    return json.dumps(data[0] if len(data) == 1 else data, sort_keys=True, default=str)


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
        "",  # a blank line: the table above ends here
        f"#### Dependencies of `{function}` ({target_label(artifact)})",
        "",
        f"Package {human_size(artifact.size)} zipped, {size_split(artifact)}.",
        "",
        "| dependency | version | size |",
        "|---|---|---|",
    ]
    lines.extend(f"| {d.name} | {d.version} | {human_size(d.size)} |" for d in artifact.distributions)
    return "\n".join(lines) + "\n"


def largest_dependencies(artifact: Artifact, count: int = 5) -> str:
    """"numpy 2.1.0 (60.1 MiB), pandas 2.2.3 (45.0 MiB)": the installed distributions that weigh most."""
    return ", ".join(f"{d.name} {d.version} ({human_size(d.size)})" for d in artifact.largest_distributions(count))


def summary_markdown(rows: Sequence[tuple[str, str, DeployResult, Artifact]], duration_s: float) -> str:
    """The step summary: one row per function deployed."""
    lines = [
        "### faas-action deploy",
        "",
        "| provider | function | version | url | changed | package size | duration |",
        "|---|---|---|---|---|---|---|",
    ]
    for provider, function, result, artifact in rows:
        url = f"[{result.url}]({result.url})" if result.url else ""
        lines.append(
            f"| {provider} | `{function}` | {result.version or ''} | {url} | "
            f"{'true' if result.changed else 'false'} | {human_size(artifact.size)} | {duration_s:.1f} s |"
        )
    return "\n".join(lines) + "\n"
