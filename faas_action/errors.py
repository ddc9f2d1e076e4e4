"""The action's exception types.

Owns: the small hierarchy that main.py maps to annotations and exit codes.
Must not: print, exit, or know about any provider SDK.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the inputs; `field` is the input name (kebab-case) or ''."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ActionError(Exception):
    """An expected failure: reported as one `::error` annotation, exit code 1."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(ActionError):
    """Everything the inputs alone reveal, collected so that all are reported at once."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid input")


class CredentialsError(ActionError):
    """No usable credentials for the chosen provider."""


class PackagingError(ActionError):
    """The package could not be built (size limits, unreadable files)."""


class ProviderError(ActionError):
    """The cloud refused or failed an operation."""


class DeadlineError(ProviderError):
    """A wait ran past its deadline (`wait-timeout`)."""


class Cancelled(ActionError):
    """The job was cancelled (SIGINT/SIGTERM from the runner) while the action waited. Its hint,
    when given, says what was left running in the cloud (an operation that finishes on its own)."""


class ReleaseError(ActionError):
    """A release did not go through (a failed gate or smoke test, a deadline, a cancellation) and
    the traffic was restored. `result` is the deploy's result with the release's outputs
    (`rolled-back`, `traffic`, ...), so they are written even though the step fails."""

    def __init__(self, message: str, result: object = None, hint: str = "") -> None:
        super().__init__(message, hint)
        self.result = result
