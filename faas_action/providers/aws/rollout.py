"""The release step of a Lambda deploy: release.py's engine on the alias, then pruning and metrics.

Owns: what the engine gets for this alias (nothing to move without an alias; the alias moved at
once when it is new or already serves the version; else the strategy and its gates), the
plan's lines for it, pruning after a successful release, the metrics read after every deploy
(a missing permission is a warning, never a failure), and the release's outputs
(`previous-version`, `rolled-back`, `traffic`, `metrics`) and summary.
Must not: walk a strategy (release.py does), change the function's code or configuration, or
sleep except through the injected clock.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from ... import release, render
from ...errors import ActionError, Cancelled, ProviderError, ReleaseError
from ...models import DeployResult, FunctionSpec, Plan
from ...release import IMMEDIATE, NO_TRAFFIC, Gates, Release, SmokeTest
from ..base import Deadline
from .client import LambdaCalls
from .limits import options_of
from .metrics import CloudWatch, dimensions
from .traffic import LambdaTraffic

if TYPE_CHECKING:
    from .plan import LambdaState

RESTORE_TIMEOUT_S = 60.0  # restoring the alias gets its own deadline (wait-timeout when shorter)
CALL_TIMEOUT_S = 120.0  # one alias change or CloudWatch read, retried on throttling within it
FUNCTION_WINDOW = dt.timedelta(hours=1)


def release_for(spec: FunctionSpec, alias: str | None, old: str | None, new: str | None, weighted: bool) -> tuple[Release, str]:
    """The engine's Release for moving `alias` from `old` to `new` (None: a version not yet
    published), and a note when there is nothing to shift from."""
    r = spec.release
    assert r is not None
    smoke = SmokeTest(r.smoke_event, r.smoke_expect) if r.smoke_event is not None else None
    bounds: dict[str, Any] = {"deadline_s": spec.wait_timeout_s, "restore_timeout_s": min(RESTORE_TIMEOUT_S, spec.wait_timeout_s)}
    if not alias:
        return Release(NO_TRAFFIC, smoke=smoke, **bounds), ""
    if old is None:
        return Release(IMMEDIATE, smoke=smoke, **bounds), f"nothing to shift from: alias {alias} is new and gets all traffic at once"
    if old == new:
        if weighted:
            return Release(IMMEDIATE, smoke=smoke, **bounds), f"alias {alias} already serves version {new}: its routing weights are cleared"
        return Release(NO_TRAFFIC, smoke=smoke, **bounds), f"nothing to shift from: alias {alias} already serves version {new}"
    if r.rollback is not None:  # at once, ungated: the old version is what the gates would restore
        return Release(release.strategy("all-at-once", r.traffic_percent, r.traffic_interval_s, False), smoke=smoke, **bounds), ""
    traffic, note = r.traffic, ""
    if old == "$LATEST" and traffic != "all-at-once":  # Lambda weights only published versions
        traffic = "all-at-once"
        note = (f"alias {alias} serves $LATEST, which Lambda cannot route a share of traffic from: "
                f"{r.traffic} becomes all-at-once" + (" with one bake for the gates" if r.gated else ""))
    strategy = release.strategy(traffic, r.traffic_percent, r.traffic_interval_s, r.gated)
    return Release(strategy, Gates(r.alarms, r.max_error_rate), smoke, **bounds), note


def plan_lines(spec: FunctionSpec, alias: str | None, old: str | None, new: str | None, weighted: bool) -> list[str]:
    """What the release will do, for the plan (dry run included): nothing is invoked."""
    assert spec.release is not None
    chosen, note = release_for(spec, alias, old, new, weighted)
    new_label = f"version {new}" if new and new != "$LATEST" else (new or "the new version")
    lines = [note] if note else []
    lines.extend(release.describe(chosen, new_label, f"alias {alias}" if alias else "the function"))
    if spec.release.keep_versions:
        lines.append(f"prune: keep the {spec.release.keep_versions} newest published versions and every version an alias points to")
    return lines


class Rollout:
    """Runs the release step of one function after apply()."""

    def __init__(self, calls: LambdaCalls, invoker: Any, cloudwatch: CloudWatch | None,
                 after_release: Callable[[DeployResult, bool], DeployResult] | None = None,
                 wall: Callable[[], dt.datetime] | None = None) -> None:
        """`after_release(result, alias_moved)` does what follows the alias once it moved (the
        function URL, the alias's provisioned concurrency: apply.Applier.after_release)."""
        self.calls = calls
        self.after_release = after_release
        self.invoker = invoker
        self.cloudwatch = cloudwatch
        self.log = calls.log
        self.clock = calls.clock
        self.wall = wall or (lambda: dt.datetime.now(dt.timezone.utc))

    def run(self, plan: Plan, spec: FunctionSpec, result: DeployResult) -> DeployResult:
        """Release `result.version` on the alias; prune; read metrics. Raises ReleaseError (with
        the outputs) when the release did not go through."""
        state: LambdaState = plan.state
        r = spec.release
        assert r is not None
        alias = options_of(spec).alias
        old, new = state.alias_version, result.version
        chosen, note = release_for(spec, alias, old, new, bool(state.alias_weights))
        if note:
            self.log.info(note[0].upper() + note[1:])
        metric_name = (state.function_arn or spec.name).rsplit(":", 1)[-1]
        traffic = LambdaTraffic(
            self.calls, self.invoker, self.cloudwatch,
            function=spec.name, metric_name=metric_name, alias=alias, old=old, new=new,
            old_description=state.alias_description, revision=state.alias_revision_id, alarms=chosen.gates.alarms,
            read_errors=chosen.gates.max_error_rate is not None, timeout_s=state.timeout_s,
            call_timeout_s=min(CALL_TIMEOUT_S, spec.wait_timeout_s), wall=self.wall,
        )
        record = release.run(chosen, traffic, self.clock, self.log)
        after_error: ActionError | None = None  # the URL or provisioned concurrency, once the alias moved
        if record.ok and self.after_release is not None:
            try:
                result = self.after_release(result, any(e.what == "promote" for e in record.events))
            except ActionError as exc:  # the release stands: its outputs are still written
                after_error = exc

        if record.ok and after_error is None and r.keep_versions:
            self._prune(spec, r.keep_versions, {new, old, state.rollback_target})
        shifted = bool(alias and old and old != new and chosen.strategy.steps)
        cancelled = (record.failure is not None and record.failure.gate == "cancelled") or isinstance(after_error, Cancelled)
        # After a cancellation the runner gives the step seconds: the alias is restored, exit now.
        metrics = {} if cancelled else self._metrics(metric_name, alias, old, new, traffic, shifted)

        rollback_mode = r.rollback is not None
        moved_back = rollback_mode and record.ok and old != new
        if alias is None:
            rolled_back, share = False, 100
        elif record.ok:
            rolled_back, share = moved_back, 100
        else:
            rolled_back, share = record.rolled_back and not rollback_mode, record.traffic
        outputs = {
            "previous-version": old or "",
            "rolled-back": "true" if rolled_back else "false",
            "traffic": str(share),
            "metrics": json.dumps(metrics, sort_keys=True),
        }
        if state.target_code:  # rollback mode: nothing was packaged, the code is the target's
            outputs["code-sha256"] = str(state.target_code.get("CodeSha256", ""))
            outputs["package-size"] = str(state.target_code.get("CodeSize", ""))
        # The timeline when there is more to it than moving the alias.
        eventful = chosen.smoke or chosen.gates.active or len(chosen.strategy.steps) > 1 or not record.ok
        summary = render.release_markdown(spec.name, traffic.new_label, traffic.entry_label, record) if eventful else ""
        summary += render.metrics_markdown(spec.name, metrics, {"new": traffic.new_label, "old": f"version {old}"})
        result = replace(result, outputs={**result.outputs, **outputs}, summary=result.summary + summary)
        if not record.ok:
            raise ReleaseError(self._failure_message(spec, alias, old, traffic, record), result=result)
        if after_error is not None:
            where = f"{traffic.entry_label} serves {traffic.new_label}" if alias else f"{traffic.new_label} is published"
            raise ReleaseError(f"{after_error} (the release itself went through: {where})", result=result)
        return result

    # -- after the release ----------------------------------------------------------------------
    def _prune(self, spec: FunctionSpec, keep: int, protected: set[str | None]) -> None:
        from .versions import prune  # here: only a run with keep-versions needs it

        deadline = Deadline(self.clock, spec.wait_timeout_s, f"pruning versions of {spec.name}")
        try:
            deleted, kept = prune(self.calls, spec.name, keep, {v for v in protected if v}, deadline)
        except ProviderError as exc:
            self.log.warning(f"keep-versions: pruning the versions of {spec.name} failed: {exc}")
            return
        if deleted:
            self.log.info(f"Pruned versions {', '.join(deleted)} of {spec.name} (keep-versions {keep})")
        if kept:
            self.log.info(f"Kept versions {', '.join(kept)}: an alias points to them now")

    def _metrics(self, function: str, alias: str | None, old: str | None, new: str, traffic: LambdaTraffic, shifted: bool) -> dict:
        """The function over the last hour, and during a release the new and the old version
        through the alias (the gate's dimensions), in one GetMetricData request."""
        if self.cloudwatch is None:
            return {}
        now = self.wall()
        release_start = traffic.started_wall - dt.timedelta(seconds=traffic.signal_delay_s)
        scopes = {"function": (dimensions(function), now - FUNCTION_WINDOW)}
        if shifted:
            scopes["new"] = (dimensions(function, alias, new), release_start)
            scopes["old"] = (dimensions(function, alias, old), release_start)
        deadline = Deadline(self.clock, CALL_TIMEOUT_S, "reading metrics from CloudWatch")
        try:
            return self.cloudwatch.summary(scopes, now, deadline)
        except ActionError as exc:  # a cancellation while retrying included: the deploy stands
            self.log.warning(f"the metrics of {function} could not be read (not a failure): {exc}")
            return {}

    @staticmethod
    def _failure_message(spec: FunctionSpec, alias: str | None, old: str | None, traffic: LambdaTraffic, record: release.Record) -> str:
        failure = record.failure
        assert failure is not None
        head = f"release of {traffic.new_label} stopped: {failure.message}"
        if record.restore_error:
            return f"{head}; {record.restore_error}"
        if alias is None:
            return f"{head}; the function has no alias to hold the new version back"
        if not any(e.what in ("shift", "promote", "restore") for e in record.events):
            return f"{head}; no traffic was moved: alias {alias} still serves " + (f"version {old}" if old else "nothing (it was not created)")
        if old is None:
            return f"{head}; alias {alias}, created by this release, was deleted again"
        return f"{head}; rolled back: alias {alias} serves version {old} again"
