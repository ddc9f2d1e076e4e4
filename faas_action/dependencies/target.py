"""Which wheels a function's dependencies need: the Python version from `runtime`, the
manylinux platform from the architecture and the glibc of the platform's runtime images.

Owns: parsing and checking `dependencies-platform`, the default platform per provider, and how
a target is described in messages.
Must not: read files, run the installer or know any index setting.
"""

from __future__ import annotations

import re


# -- the target: which wheels -----------------------------------------------------------------

MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}  # Lambda's architecture names → wheel tags'
# The glibc levels uv can target (`uv pip install --python-platform`); manylinux2014 is 2_17.
GLIBC_LEVELS = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)
# Lambda's Python runtimes up to python3.11 run on Amazon Linux 2 (glibc 2.26): the newest level
# uv targets at or below it is manylinux_2_17 (manylinux2014, what AWS's own guide uses). From
# python3.12 they run on Amazon Linux 2023 (glibc 2.34), which loads manylinux_2_34 wheels and
# older: a package that ships only manylinux_2_28 wheels installs there, as it should.
LAMBDA_AL2023_FROM = (3, 12)
LAMBDA_GLIBC = {"al2": (2, 26), "al2023": (2, 34)}
# Azure Functions' Python images are Debian 11 or 12 (glibc 2.31, 2.36) on x86_64: manylinux_2_28
# wheels load on both.
AZURE_LEVEL = 28

# Patterns stay strings (compiled and cached by `re` on first use): most runs never need them.
_PLATFORM_UV = r"(x86_64|aarch64)-manylinux(?:_2_(\d+)|(2014))"
_PLATFORM_TAG = r"manylinux(?:_2_(\d+)|(2014))_(x86_64|aarch64)"
_RUNTIME = r"python(3)\.(\d{1,2})"


def python_version(runtime: str | None) -> str | None:
    """`python3.12` → "3.12"; None for anything that is not a Python runtime."""
    match = re.fullmatch(_RUNTIME, (runtime or "").strip().lower())
    return f"{match.group(1)}.{match.group(2)}" if match else None


def default_platform(provider: str, version: str, architecture: str) -> str:
    """uv's `--python-platform` for a provider's runtime images (see the constants above)."""
    machine = MACHINES.get(architecture, architecture)
    if provider == "aws":
        level = 34 if _version_tuple(version) >= LAMBDA_AL2023_FROM else 17
    else:
        level = AZURE_LEVEL
    return f"{machine}-manylinux_2_{level}"


def parse_platform(value: str) -> str | None:
    """A `dependencies-platform` value in uv's form (`aarch64-manylinux_2_28`) or as a wheel's
    platform tag (`manylinux_2_28_aarch64`, `manylinux2014_x86_64`) → uv's form; None when it is
    neither or names a glibc level uv cannot target."""
    value = value.strip()
    match = re.fullmatch(_PLATFORM_UV, value)
    if match:
        machine, level, legacy = match.groups()
    else:
        match = re.fullmatch(_PLATFORM_TAG, value)
        if not match:
            return None
        level, legacy, machine = match.groups()
    number = 17 if legacy else int(level)
    if number not in GLIBC_LEVELS:
        return None
    return f"{machine}-manylinux_2_{number}"


def platform_tag(platform: str) -> str:
    """uv's `x86_64-manylinux_2_34` → the wheel tag `manylinux_2_34_x86_64` (as uv's messages say it)."""
    machine, _, level = platform.partition("-")
    return f"{level}_{machine}"


def platform_problems(provider: str, version: str, platform: str, architecture: str) -> list[str]:
    """Why wheels for `platform` would not load where the function runs (empty when they would)."""
    machine, _, level = platform.partition("-")
    problems = []
    wanted = MACHINES.get(architecture, architecture)
    if machine != wanted:
        problems.append(f"{platform_tag(platform)} wheels are for {machine}, but the function runs on {architecture}")
    glibc = (2, int(level.rsplit("_", 1)[1]))
    if provider == "aws":
        image = "al2023" if _version_tuple(version) >= LAMBDA_AL2023_FROM else "al2"
        available = LAMBDA_GLIBC[image]
        if glibc > available:
            name = "Amazon Linux 2023" if image == "al2023" else "Amazon Linux 2"
            problems.append(
                f"python{version} on Lambda runs on {name} (glibc {available[0]}.{available[1]}), which cannot "
                f"load {platform_tag(platform)} wheels; use manylinux_2_{17 if image == 'al2' else 34} or older"
            )
    return problems


def describe_target(python_version: str, platform: str) -> str:
    """"CPython 3.12, manylinux_2_34_x86_64": for messages, the plan and the summary."""
    return f"CPython {python_version}, {platform_tag(platform)}"


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


