"""The release inputs' rules (issue 9): traffic strategy, smoke test, gates, rollback, pruning.

Owns: `release(fields, workspace, options) -> ReleaseSpec`.
Must not: know how a cloud moves traffic (providers and release.py do).
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import userfiles
from ..models import AwsOptions, ReleaseSpec
from .fields import Fields
from .files import inside

SMOKE_EVENT_LIMIT = 6 * 1024 * 1024  # Lambda's synchronous request payload limit
ALARM_NAME = r"[^\x00-\x1f,]{1,255}"


def release(f: Fields, workspace: Path, options: AwsOptions) -> ReleaseSpec:
    """The release inputs → a ReleaseSpec; every rule about them (they apply to AWS only)."""
    traffic = f.choice("traffic", ("all-at-once", "canary", "linear")) or "all-at-once"
    percent = f.integer("traffic-percent", 1, 99, " percent")
    interval = f.integer("traffic-interval", 1, 6 * 3600, " seconds")
    smoke_event = _smoke_event(f, workspace)
    smoke_expect = _json_value(f, "smoke-expect") if isinstance(f.raw.get("smoke-expect"), (dict, list)) else f.text("smoke-expect")
    if smoke_expect is not None:
        try:
            json.loads(smoke_expect)
        except RecursionError:
            f.problem("smoke-expect", "is nested too deeply: give the part of the response to look for")
        except ValueError:
            pass  # not JSON: a substring to look for
    if smoke_expect is not None and not f.given("smoke-event"):
        f.problem("smoke-expect", "needs `smoke-event` (the event to invoke the new version with)")
    alarms = f.items("alarms", ALARM_NAME, "a CloudWatch alarm name") or ()
    max_error_rate = _percentage(f, "max-error-rate")
    rollback = f.text("rollback", r"previous|[1-9][0-9]{0,9}", "`previous` or a version number")
    keep = f.integer("keep-versions", 1, 10000, " versions")

    needs_alias = []
    if traffic != "all-at-once":
        needs_alias.append(f"`traffic: {traffic}`")
    if alarms or f.given("max-error-rate"):
        needs_alias.append("a gate (`alarms`, `max-error-rate`)")
    if rollback is not None or f.given("rollback"):
        needs_alias.append("`rollback`")
    if needs_alias and not f.given("alias"):  # an alias with `publish: false` is refused already
        f.problem(
            "alias",
            f"{' and '.join(needs_alias)} needs an `alias` (with `publish: true`) whose traffic it moves",
        )
    if traffic != "all-at-once" and rollback is not None:
        f.problem("traffic", "rollback mode moves the alias back at once: `traffic` must be all-at-once")
    if rollback is not None and f.given("package"):
        f.problem("package", "rollback mode uploads no code: remove `package`")
    return ReleaseSpec(
        traffic=traffic,
        traffic_percent=percent or 10,
        traffic_interval_s=interval or 60,
        smoke_event=smoke_event,
        smoke_expect=smoke_expect,
        alarms=tuple(dict.fromkeys(alarms)),
        max_error_rate=max_error_rate,
        rollback=rollback,
        keep_versions=keep,
    )


def _smoke_event(f: Fields, workspace: Path) -> bytes | None:
    """`smoke-event`: a JSON payload, or `@path` to a JSON file in the workspace."""
    value = f.raw.get("smoke-event")
    if value is None or value == "":
        return None
    if isinstance(value, (dict, list)):  # a YAML config may hold the event as a mapping or list
        text = _json_value(f, "smoke-event")
        return None if text is None else text.encode()
    text = str(value).strip()
    where = "smoke-event"
    if text.startswith("@"):
        name = text[1:].strip()
        path = inside(f, "smoke-event", name, workspace)
        if path is None:
            return None
        try:  # a regular UTF-8 file within Lambda's 6 MB payload limit, read without blocking
            data = userfiles.read_text(path, SMOKE_EVENT_LIMIT).encode()
        except userfiles.UserFileError as exc:
            f.problem("smoke-event", f"{name!r} {exc}")
            return None
        where = repr(name)
    else:
        data = text.encode()
    if len(data) > SMOKE_EVENT_LIMIT:
        f.problem("smoke-event", "the event is over Lambda's 6 MB payload limit")
        return None
    try:
        json.loads(data)
    except RecursionError:
        f.problem("smoke-event", f"{where} is nested too deeply: no real event is")
        return None
    except ValueError as exc:
        f.problem("smoke-event", f"{where} is not valid JSON ({exc}); give a JSON payload or @path to a JSON file")
        return None
    return data


def _json_value(f: Fields, name: str) -> str | None:
    """A YAML mapping or list from the config file as JSON text (`smoke-event`, `smoke-expect`)."""
    try:  # YAML has values JSON has not: a date, .nan, .inf
        return json.dumps(f.raw[name], allow_nan=False)
    except (TypeError, ValueError) as exc:
        f.problem(name, f"holds a value JSON cannot carry ({exc}); quote it, e.g. '2024-01-01'")
        return None


def _percentage(f: Fields, name: str) -> float | None:
    """`2` or `2%` (or `0.5`) → 2.0, within 0..100."""
    value = f.text(name, r"\d{1,3}(\.\d+)?\s*%?", "a percentage such as 2 or 2%")
    if value is None:
        return None
    number = float(value.rstrip("%").strip())
    if number > 100:
        f.problem(name, f"{value!r} is over 100%")
        return None
    return number
