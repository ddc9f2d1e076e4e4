"""Provider registry: imports exactly one cloud module, lazily.

Owns: the mapping from the `provider` input to its module.
Must not: import any provider module at import time (only the chosen SDK may be loaded).
"""

from __future__ import annotations

import importlib
from types import ModuleType

NAMES = ("aws", "azure", "gcp")


def load(name: str) -> ModuleType:
    """The provider module for `name`; each exposes IGNORE_FILE, DEFAULT_IGNORES, check(spec, artifact),
    check_environment(spec, environ) (both local checks, no call) and connect(spec, ctx)."""
    if name not in NAMES:
        raise ValueError(f"unknown provider {name!r}")
    return importlib.import_module(f"{__name__}.{name}")
