"""The functions of a site after a deploy, and the URL they answer on.

Owns: waiting for the functions to be indexed (`wait_for_functions`: zero functions by the
deadline, at most FUNCTIONS_WAIT_CAP_S, is an error with the likely causes; a stopped site is
only warned about); listing them once when nothing was deployed (`list_functions_once`: a failure
is a warning); and the URL output (`invoke_url`: the first HTTP-triggered function's
invoke_url_template, else the caller falls back to Site.url).
Must not: change anything, or sleep except through the deadline's clock.
"""

from __future__ import annotations

from typing import Any

from ...errors import CredentialsError, DeadlineError, ProviderError
from ..base import Deadline
from .arm import ArmCalls
from .site import Site

FUNCTIONS_WAIT_CAP_S = 180.0
ZERO_FUNCTIONS_HINT = (
    "likely causes: host.json or the function code is not at the package root; dependencies are missing "
    "(Python: vendor them into .python_packages/lib/site-packages; Node: ship node_modules); "
    "FUNCTIONS_WORKER_RUNTIME does not match the code; the code fails at start-up (see Log stream or "
    "Application Insights); the app is stopped"
)


def list_functions_once(arm: ArmCalls, site: Site) -> list[Any]:
    try:
        return arm.functions(site)
    except CredentialsError:
        raise
    except ProviderError as exc:
        arm.log.warning(f"cannot list the functions of {site.label}: {exc.message}")
        return []


def wait_for_functions(arm: ArmCalls, site: Site, wait_s: float) -> list[Any]:
    """List the functions until at least one is indexed; zero by the deadline is an error."""
    log = arm.log
    if site.state and site.state.lower() != "running":
        log.warning(f"{site.label} is {site.state}: its functions are indexed only once it runs")
        return []
    seconds = min(wait_s, FUNCTIONS_WAIT_CAP_S)
    deadline = Deadline(arm.clock, seconds, f"indexing of the functions of {site.label}")
    delay = 1.0
    while True:
        try:
            functions = arm.functions(site, deadline)
            detail = "0 functions indexed"
        except (CredentialsError, DeadlineError):
            raise
        except ProviderError as exc:
            functions, detail = [], exc.message
        if functions:
            names = ", ".join(sorted(function_name(f) for f in functions))
            log.info(f"{len(functions)} function(s) indexed in {site.label}: {names}")
            return functions
        if deadline.expired:
            raise ProviderError(
                f"zero functions indexed in {site.label} {seconds:g} s after the deploy ({detail})",
                hint=ZERO_FUNCTIONS_HINT,
            )
        log.info(f"waiting for the functions of {site.label} to be indexed ({detail})")
        deadline.sleep(delay)
        delay = min(delay * 1.5, 10.0)


def invoke_url(functions: list[Any]) -> str:
    """The first HTTP-triggered function's invoke URL (by name), else ''."""
    urls = sorted(
        (function_name(f), f.invoke_url_template) for f in functions if getattr(f, "invoke_url_template", None)
    )
    return urls[0][1] if urls else ""


def function_name(function: Any) -> str:
    return str(getattr(function, "name", "") or "").rsplit("/", 1)[-1]
