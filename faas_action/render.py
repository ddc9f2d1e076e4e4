"""Plans and results as text, Markdown and JSON.

Owns: every human- and machine-readable rendering of a Plan or DeployResult.
Must not: do I/O or decide anything about a deploy.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

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


def plans_json(plans: Sequence[Plan]) -> str:
    data: Any = [p.to_dict() for p in plans]
    return json.dumps(data[0] if len(data) == 1 else data, sort_keys=True, default=str)


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
