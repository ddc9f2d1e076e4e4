"""Lambda's side of a release: release.py's Traffic protocol on one alias.

Owns: the smoke invoke (RequestResponse, by the new version's qualifier or through the alias),
the weighted alias (`UpdateAlias(FunctionVersion=<old>, RoutingConfig.AdditionalVersionWeights=
{<new>: p})`), promotion (the new version, weights cleared, the previous version recorded in the
alias description for `rollback: previous`), the gates' reads (CloudWatch alarms, and the new
version's Invocations/Errors through the alias with the ExecutedVersion dimension), and restore.
Must not: decide when to do any of it (release.py does), retry restore (the engine does, on a
clock that ignores a cancellation), or sleep except through a Deadline on the injected clock.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from ...errors import ProviderError
from ...release import Health, Invocation
from ..base import Clock, Deadline, Log, retrying, shielded
from .client import LambdaCalls, botocore_error, cause_code, error_code, provider_error, retryable
from .metrics import CloudWatch, dimensions

PAYLOAD_LIMIT = 64 * 1024  # what is kept of a smoke response (enough to match and to quote)
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
        alarms: tuple[str, ...],
        read_errors: bool,
        timeout_s: int,
        call_timeout_s: float,
        wall: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.calls = calls
        self.client = calls.client
        self.invoker = invoker
        self.cloudwatch = cloudwatch
        self.log: Log = calls.log
        self.clock: Clock = calls.clock
        self.function = function
        self.metric_name = metric_name  # the plain function name CloudWatch's dimensions use
        self.alias = alias
        self.old = old
        self.new = new
        self.old_description = old_description
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
        # failure is not (the function may have run: a smoke event need not be idempotent). The
        # read timeout of `invoker` outlasts the function's own timeout.
        deadline = Deadline(self.clock, self.call_timeout_s + self.timeout_s, f"smoke test of {where}")
        what = f"invoking {where}"

        def attempt() -> dict:
            return self.invoker.invoke(FunctionName=self.function, Qualifier=qualifier,
                                       InvocationType="RequestResponse", Payload=payload)

        try:
            reply = retrying(deadline, self.log, what, attempt,
                             lambda exc: retryable(exc) if isinstance(exc, ClientError) else None)
        except ClientError as exc:
            raise provider_error(exc, what) from exc
        except BotoCoreError as exc:
            mapped = botocore_error(exc, what)
            if mapped is None:
                raise
            raise mapped from exc
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
        """One short try, on a clock that ignores a cancellation (the engine retries it)."""
        assert self.alias
        deadline = Deadline(shielded(self.clock), RESTORE_ATTEMPT_S, f"restoring alias {self.alias}")
        try:
            if self.old is None:  # the alias did not exist before this release
                self.calls.call(deadline, self.client.delete_alias, FunctionName=self.function, Name=self.alias)
            else:
                self.calls.call(
                    deadline, self.client.update_alias, FunctionName=self.function, Name=self.alias,
                    FunctionVersion=self.old, RoutingConfig={"AdditionalVersionWeights": {}},
                    Description=self.old_description or "",
                )
        except ProviderError as exc:
            if self.old is None and cause_code(exc) == "ResourceNotFoundException":
                return  # never created, or deleted by a try whose reply was lost
            raise

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
        weights = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        split = "".join(f" with {round(w * 100)}% on version {v}" for v, w in weights.items())
        return f"alias {self.alias} was left serving version {found['FunctionVersion']}{split}"

    # -- helpers ----------------------------------------------------------------------------------
    def wall_of(self, at: float) -> dt.datetime:
        """A time on the engine's clock as wall-clock time."""
        return self.started_wall + dt.timedelta(seconds=at - self.started_at)

    def window_start(self, since: float) -> dt.datetime:
        """Where the new version's figures start: when it first got traffic, less one period,
        so that a datapoint stamped within its first minute is not cut off."""
        return self.wall_of(since) - dt.timedelta(seconds=60)

    def _update_alias(self, version: str, weights: dict[str, float], description: str | None, what: str) -> None:
        params: dict[str, Any] = {
            "FunctionName": self.function, "Name": self.alias, "FunctionVersion": version,
            "RoutingConfig": {"AdditionalVersionWeights": weights},
        }
        if description is not None:
            params["Description"] = description
        self.calls.call(self._deadline(what), self.client.update_alias, **params)

    def _create_alias(self, description: str) -> None:
        """CreateAlias on the new version. Lambda answers 409 both for 'the alias exists' and for
        'an update is in progress': with no alias, the conflict is retried; an alias already on
        the new version is our own create whose reply was lost."""
        name, alias, version = self.function, self.alias, self.new

        def create() -> dict | None:
            try:
                self.client.create_alias(FunctionName=name, Name=alias, FunctionVersion=version, Description=description)
                return None
            except ClientError as exc:
                if error_code(exc) != "ResourceConflictException":
                    raise
                conflict = exc
            try:
                return self.client.get_alias(FunctionName=name, Name=alias)
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    raise conflict from None
                raise

        existing = self.calls.run(self._deadline(f"creating alias {alias}"), "create_alias", create)
        if existing is not None and existing.get("FunctionVersion") != version:
            raise ProviderError(
                f"alias {alias} was created by someone else (on version {existing.get('FunctionVersion')}) during this release",
                hint="another deploy ran at the same time; re-run when it is done",
            )
