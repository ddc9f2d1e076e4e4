"""Deploying to a slot and swapping it into production (`slot` with `swap: true`).

Owns: what plan() reads of production when the slot will be swapped into it (`read_production`:
production is what `url` serves, so the deploy is a no-op only when production already runs this
package with these settings), and the swap itself (`swap`: POST slotsswap with preserveVnet, a
long-running operation polled on the run's clock within wait-timeout; the previous production
build stays in the slot, so swapping again rolls back).
Must not: create slots (the slot must exist; Flex Consumption has none: method.py refuses it),
or retry a swap that may have been sent (a second swap swaps back).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import Cancelled
from ...models import Artifact, FunctionSpec
from ..base import Deadline
from .arm import ArmCalls
from .deployed import Deployed, read_deployed
from .settings import desired_settings
from .site import Site, read_site


@dataclass(frozen=True)
class Production:
    """Production as plan() read it, for a slot that will be swapped into it."""

    site: Site
    live: Deployed  # what production runs now
    up_to_date: bool  # it runs this package, built the same way, with the settings wanted


def read_production(
    arm: ArmCalls, spec: FunctionSpec, method: str, artifact: Artifact, remote_build: bool
) -> Production:
    site = read_site(arm, spec.name, None)
    settings = arm.app_settings(site)
    live = read_deployed(arm, site, method, settings)
    wanted = desired_settings(settings, spec.environment, spec.environment_mode)
    return Production(site, live, live.runs(artifact, remote_build) and dict(wanted) == dict(settings))


def swap(arm: ArmCalls, slot_site: Site, wait_s: float) -> None:
    slot = slot_site.slot
    assert slot
    deadline = Deadline(arm.clock, wait_s, f"swap of slot {slot} into production")
    arm.log.info(f"Swapping slot {slot} into production")
    try:
        arm.swap_with_production(slot_site.app, slot, deadline)
    except Cancelled:
        raise Cancelled("the job was cancelled", hint=(
            f"the swap of slot {slot} into production was sent: Azure completes it (or fails it) as a whole on "
            "its own; production serves the previous build until then"
        )) from None
    arm.log.info(
        f"Swapped {slot} into production; the previous production build is now in {slot} (swap again to roll back)"
    )
