"""Lambda's side of a release: release.py's Traffic protocol on one alias.

Owns: the smoke invoke (RequestResponse, by the new version's qualifier or through the alias),
the weighted alias (`UpdateAlias(FunctionVersion=<old>, RoutingConfig.AdditionalVersionWeights=
{<new>: p})`), promotion (the new version, weights cleared, the previous version recorded in the
alias description for `rollback: previous`), the gates' reads (CloudWatch alarms, and the new
version's Invocations/Errors through the alias with the ExecutedVersion dimension), and restore.
Every shift and promotion is guarded by the alias's RevisionId (a concurrent change fails the
release; a retry that meets its own lost reply carries on: alias.py); a smoke invoke is never
retried after a network failure (the function may have run); a restore that landed while its
reply was lost is read back as done.
Must not: decide when to do any of it (release.py does), retry restore (the engine does, on a
clock that ignores a cancellation), or sleep except through a Deadline on the injected clock.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable

from botocore.exceptions import BotoCoreError

from ...errors import ProviderError
from ...release import Health, Invocation
from ..base import Clock, Deadline, Log, shielded
from .alias import create_alias, points_to, serving, update_alias
from .client import LambdaCalls, cause_code
from .metrics import CloudWatch, dimensions

# A smoke response is kept whole to be matched (messages quote an excerpt): Lambda answers a
# synchronous invoke with at most 6 MB, and a JSON response cut short would no longer parse.
PAYLOAD_LIMIT = 6 * 1024 * 1024
RESTORE_ATTEMPT_S = 15.0  # one restore try (its network retries included); the engine retries it
DESCRIPTION_MARK = "faas-action previous="
PREVIOUS_IN_DESCRIPTION = re.compile(re.escape(DESCRIPTION_MARK) + r"(\d+)")


def description_with_previous(description: str | None, previous: str | None) -> str:
    """The alias description with `faas-action previous=<version>` recorded in it (kept within
    Lambda's 256 characters, the user's own words first)."""
    own = PREVIOUS_IN_DESCRIPTION.sub("", description or "").strip()
    mark = f"{DESCRIPTION_MARK}{previous}" if previous else ""
    if not mark:
        return own
    return (own[: 255 - len(mark)].rstrip() + " " + mark).strip()


def recorded_previous(description: str | None) -> str | None:
    """The version recorded by description_with_previous, if any."""
    found = PREVIOUS_IN_DESCRIPTION.search(description or "")
    return found.group(1) if found else None


class LambdaTraffic:
    """One alias moving from `old` (None: the alias does not exist yet) to `new`."""

    def __init__(
        self,
        calls: LambdaCalls,
        invoker: Any,
        cloudwatch: CloudWatch | None,
        *,
        function: str,
        metric_name: str,
        alias: str | None,
        old: str | None,
        new: str,
        old_description: str | None,
        revision: str | None = None,
        alarms: tuple[str, ...],
        read_errors: bool,
        timeout_s: int,
        call_timeout_s: float,
        wall: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.calls = calls
        self.client = calls.client
        self.invoker = calls.adopt(invoker) if invoker is not None else None
        self.cloudwatch = cloudwatch
        self.log: Log = calls.log
        self.clock: Clock = calls.clock
        self.function = function
        self.metric_name = metric_name  # the plain function name CloudWatch's dimensions use
        self.alias = alias
        self.old = old
        self.new = new
        self.old_description = old_description
        # The alias's RevisionId as last read or written: every move is guarded by it, so that a
        # concurrent change of the alias fails the release instead of being overwritten.
        self.revision = revision
        self.alarms = alarms
        self.read_errors = read_errors
        self.timeout_s = timeout_s
        self.call_timeout_s = call_timeout_s
        self.wall = wall or (lambda: dt.datetime.now(dt.timezone.utc))
        self.started_wall = self.wall()
        self.started_at = self.clock.now()
        self.new_label = f"version {new}" if new != "$LATEST" else "$LATEST"
        self.entry_label = f"alias {alias}" if alias else "the function"
        # CloudWatch stamps a datapoint with the invocation's start, at 1-minute resolution: an
        # error is seen up to a minute, or the function's timeout, after the invocation began.
        self.signal_delay_s = float(max(60, timeout_s))

    def _deadline(self, what: str) -> Deadline:
        return Deadline(self.clock, self.call_timeout_s, what)

    # -- Traffic ----------------------------------------------------------------------------------
    def invoke(self, payload: bytes, through_entry: bool) -> Invocation:
        qualifier = self.alias if through_entry and self.alias else self.new
        where = f"{self.function}:{qualifier}"
        self.log.info(f"Smoke test: invoking {where}")
        # Throttling and 'function not ready' conflicts mean it did not run: retried. A network
        # failure is not (the function may have run: a smoke event need not be idempotent): it
        # fails the smoke test at once. The reply may take the function's own timeout.
        deadline = Deadline(self.clock, self.call_timeout_s + self.timeout_s, f"smoke test of {where}")
        reply = self.calls.run(
            deadline, f"invoking {where}",
            lambda: self.invoker.invoke(FunctionName=self.function, Qualifier=qualifier,
                                        InvocationType="RequestResponse", Payload=payload),
            retry_network=False, read_timeout_s=deadline.seconds,
        )
        try:
            body = reply["Payload"].read(PAYLOAD_LIMIT + 1)
        except (BotoCoreError, OSError) as exc:
            raise ProviderError(f"reading the smoke test's response from {where} failed: {exc}") from exc
        text = body[:PAYLOAD_LIMIT].decode("utf-8", "replace")
        return Invocation(text, reply.get("FunctionError") or None, reply.get("ExecutedVersion", ""))

    def shift(self, percent: int) -> None:
        assert self.alias and self.old
        weights = {self.new: round(percent / 100.0, 2)}
        self._update_alias(self.old, weights, None, f"shifting {percent}% of alias {self.alias}")

    def promote(self) -> None:
        assert self.alias
        description = description_with_previous(self.old_description, self.old)
        if self.old is None:
            self._create_alias(description)
            return
        self._update_alias(self.new, {}, description, f"promoting version {self.new} on alias {self.alias}")

    def restore(self) -> None:
        """One short try, on a clock that ignores a cancellation (the engine retries it). Not
        guarded by the RevisionId: the old version must serve again whatever happened meanwhile.
        A try that failed (its reply lost, say) is checked by reading the alias: a restore that
        landed is never reported as failed."""
        assert self.alias
        deadline = Deadline(shielded(self.clock), RESTORE_ATTEMPT_S, f"restoring alias {self.alias}")
        try:
            if self.old is None:  # the alias did not exist before this release
                self.calls.call(deadline, self.client.delete_alias, FunctionName=self.function, Name=self.alias)
            else:
                reply = self.calls.call(
                    deadline, self.client.update_alias, FunctionName=self.function, Name=self.alias,
                    FunctionVersion=self.old, RoutingConfig={"AdditionalVersionWeights": {}},
                    Description=self.old_description or "",
                )
                self.revision = reply.get("RevisionId") or self.revision
        except ProviderError as exc:
            if self.old is None and cause_code(exc) == "ResourceNotFoundException":
                return  # never created, or deleted by a try whose reply was lost
            if self._restored():
                self.log.info(f"Alias {self.alias} is restored (by an attempt whose reply was lost)")
                return
            raise

    def _restored(self) -> bool:
        """Is the alias as restore() leaves it? False when that cannot be read either."""
        try:
            found = self.calls.get_alias(
                self.function, self.alias, Deadline(shielded(self.clock), RESTORE_ATTEMPT_S, f"reading alias {self.alias}")
            )
        except ProviderError:
            return False
        if self.old is None:
            return found is None
        return found is not None and points_to(found, self.old, {})

    def health(self, since: float | None) -> Health:
        deadline = self._deadline("reading the release's health from CloudWatch")
        alarms = ()
        if self.alarms:
            assert self.cloudwatch is not None
            alarms = self.cloudwatch.alarm_states(self.alarms, self.started_wall, deadline)
        if not self.read_errors or since is None:
            return Health(alarms=alarms)
        assert self.cloudwatch is not None
        invocations, errors = self.cloudwatch.counts(
            dimensions(self.metric_name, self.alias, self.new), self.window_start(since), self.wall(), deadline
        )
        return Health(invocations=invocations, errors=errors, alarms=alarms)

    def describe(self) -> str:
        found = self.calls.get_alias(self.function, self.alias, Deadline(shielded(self.clock), RESTORE_ATTEMPT_S, f"reading alias {self.alias}"))
        if found is None:
            return f"alias {self.alias} does not exist"
        return f"alias {self.alias} was left serving {serving(found)}"

    # -- helpers ----------------------------------------------------------------------------------
    def wall_of(self, at: float) -> dt.datetime:
        """A time on the engine's clock as wall-clock time."""
        return self.started_wall + dt.timedelta(seconds=at - self.started_at)

    def window_start(self, since: float) -> dt.datetime:
        """Where the new version's figures start: when it first got traffic, less one period,
        so that a datapoint stamped within its first minute is not cut off."""
        return self.wall_of(since) - dt.timedelta(seconds=60)

    def _update_alias(self, version: str, weights: dict[str, float], description: str | None, what: str) -> None:
        """UpdateAlias guarded by the RevisionId this release last saw (alias.update_alias tells a
        retry that meets its own lost reply from someone else's change)."""
        assert self.alias
        now = update_alias(self.calls, self._deadline(what), self.function, self.alias, version, self.revision,
                           weights=weights, description=description)
        self.revision = now.get("RevisionId") or self.revision

    def _create_alias(self, description: str) -> None:
        """CreateAlias on the new version; an alias already on the new version is our own create
        whose reply was lost, one on another version someone else's."""
        assert self.alias
        existing, created = create_alias(self.calls, self._deadline(f"creating alias {self.alias}"),
                                         self.function, self.alias, self.new, description)
        if not created and existing.get("FunctionVersion") != self.new:
            raise ProviderError(
                f"alias {self.alias} was created by someone else (on version {existing.get('FunctionVersion')}) during this release",
                hint="another deploy ran at the same time; re-run when it is done",
            )
        self.revision = existing.get("RevisionId") or self.revision
