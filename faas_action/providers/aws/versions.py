"""Published versions: the version a rollback goes to, and pruning beyond the N newest.

Owns: the rollback target rule (a number as asked; `previous`: the version recorded in the alias
description when faas-action last moved it, else the highest published version below the
current one), which versions pruning may delete (never one an alias points to, routing weights
included, nor a protected one), and the DeleteFunction calls by qualifier.
Must not: move an alias, or sleep except through a Deadline on the injected clock.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from ...errors import ProviderError
from ..base import Deadline
from .client import LambdaCalls, cause_code
from .traffic import recorded_previous


def rollback_target(wanted: str, current: str, description: str | None, published: Sequence[str]) -> tuple[str, str]:
    """The version to roll back to, and why that one."""
    numbers = sorted((v for v in published if v.isdigit()), key=int)
    if wanted != "previous":
        if wanted not in numbers:
            raise ProviderError(f"version {wanted} is not a published version (published: {_span(numbers)})",
                                hint="check the `rollback` input")
        return wanted, f"version {wanted} as asked"
    recorded = recorded_previous(description)
    if recorded and recorded in numbers and recorded != current:
        return recorded, "the version it served before faas-action last moved it"
    below = [v for v in numbers if not current.isdigit() or int(v) < int(current)]
    if below:
        return below[-1], f"the highest published version below {current}"
    raise ProviderError(
        f"no version to roll back to: the alias serves version {current} and no published version is below it",
        hint="give `rollback` a version number",
    )


def aliased(aliases: Iterable[Mapping]) -> set[str]:
    """Every version an alias points to, its routing weights included."""
    versions = set()
    for alias in aliases:
        versions.add(str(alias.get("FunctionVersion")))
        versions.update((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
    return versions


def to_prune(published: Iterable[str], keep: int, protected: set[str]) -> list[str]:
    """The published versions beyond the `keep` newest, less the protected ones, oldest first."""
    numbers = sorted((v for v in published if v.isdigit()), key=int, reverse=True)
    return sorted((v for v in numbers[keep:] if v not in protected), key=int)


def prune(calls: LambdaCalls, function: str, keep: int, protected: set[str], deadline: Deadline) -> tuple[list[str], list[str]]:
    """Delete the versions beyond the `keep` newest that no alias points to and that are not
    `protected`. Returns (deleted, kept because an alias took them meanwhile)."""
    published = [v["Version"] for v in calls.versions(function)]
    protected = protected | aliased(calls.aliases(function))
    deleted, kept = [], []
    for version in to_prune(published, keep, protected):
        try:
            calls.call(deadline, calls.client.delete_function, FunctionName=function, Qualifier=version, retry_conflicts=False)
        except ProviderError as exc:
            code = cause_code(exc)
            if code == "ResourceConflictException":  # an alias points to it since we listed them
                kept.append(version)
                continue
            if code != "ResourceNotFoundException":  # gone: by an earlier attempt whose reply was lost, or someone else
                raise
        deleted.append(version)
    return deleted, kept


def _span(numbers: Sequence[str]) -> str:
    if not numbers:
        return "none"
    return numbers[0] if len(numbers) == 1 else f"{numbers[0]}..{numbers[-1]}"
