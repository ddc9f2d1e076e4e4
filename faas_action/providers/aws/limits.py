"""Lambda's package size limits, checked on the Artifact before any call.

Owns: the 50 MB direct-upload and 250 MB unzipped limits and the problems they raise.
Must not: call AWS.
"""

from __future__ import annotations

from ... import render
from ...errors import Problem
from ...models import Artifact, AwsOptions, FunctionSpec

DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # ZipFile in the request: 69905067 bytes once base64-encoded
UNZIPPED_LIMIT = 262_144_000  # 250 MB, "Unzipped size must be smaller than 262144000 bytes"


def options_of(spec: FunctionSpec) -> AwsOptions:
    assert isinstance(spec.options, AwsOptions)
    return spec.options


def check(spec: FunctionSpec, artifact: Artifact | None) -> list[Problem]:
    """Lambda's size limits, checked before any call (an image function has no package)."""
    if artifact is None:
        return []
    options = options_of(spec)
    field_name = "package" if spec.package else "source"
    problems = []
    if artifact.unzipped_size >= UNZIPPED_LIMIT:
        problems.append(Problem(
            field_name,
            f"unzipped size {artifact.unzipped_size} bytes exceeds Lambda's 250 MB limit "
            f"({UNZIPPED_LIMIT} bytes, layers included): trim the package or move dependencies to a layer"
            + _dependencies_weight(artifact),
        ))
    elif artifact.size > DIRECT_UPLOAD_LIMIT and not options.s3_bucket:
        problems.append(Problem(
            "s3-bucket",
            f"the package is {artifact.size} bytes, over Lambda's 50 MB limit for a direct upload "
            f"({DIRECT_UPLOAD_LIMIT} bytes): set the `s3-bucket` input to upload it through S3"
            + _dependencies_weight(artifact),
        ))
    return problems


def _dependencies_weight(artifact: Artifact) -> str:
    """What the installed dependencies weigh, biggest first, so the user knows what to trim."""
    if not artifact.distributions:
        return ""
    return (
        f". Unzipped, {render.size_split(artifact)}; the biggest installed packages: "
        f"{render.largest_dependencies(artifact)}"
    )
