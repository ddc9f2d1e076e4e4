"""Container images in ECR: which digest an `image-uri` names right now.

Owns: splitting an ECR image URI and resolving a tag to its digest (ECR DescribeImages), so that
the plan compares the digest Lambda reports as CodeSha256 with the one the tag names now: a tag
pushed again is a change, the same digest is a no-op.
Must not: call Lambda, change anything in ECR, or call ECR except through LambdaCalls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ...errors import ProviderError
from ..base import Deadline
from .client import LambdaCalls, cause_code

URI = re.compile(
    r"(?P<registry>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/(?P<repository>[^:@]+)"
    r"(:(?P<tag>[^@]+)|@sha256:(?P<digest>[0-9a-f]{64}))"
)


@dataclass(frozen=True)
class ImageRef:
    uri: str
    registry: str
    region: str
    repository: str
    tag: str | None
    digest: str | None  # hex, without `sha256:`

    @classmethod
    def parse(cls, uri: str) -> "ImageRef":
        match = URI.fullmatch(uri)
        if match is None:  # config/ checked the pattern: this is a bug
            raise ValueError(f"not an ECR image URI: {uri}")
        return cls(uri, match["registry"], match["region"], match["repository"], match["tag"], match["digest"])


def digest_of(calls: LambdaCalls, image: ImageRef, ecr_factory: Callable[[], Any], deadline: Deadline) -> str | None:
    """The image's digest (hex, as Lambda's CodeSha256): from the URI itself, or what its tag names
    in ECR now (DescribeImages through the bounded retry loop, within `deadline`). None when ECR
    may not be asked (the deploy then updates the code every time)."""
    if image.digest:
        return image.digest
    ecr = calls.adopt(ecr_factory())
    try:
        reply = calls.run(deadline, f"reading image {image.uri} from ECR", lambda: ecr.describe_images(
            registryId=image.registry, repositoryName=image.repository, imageIds=[{"imageTag": image.tag}],
        ))
    except ProviderError as exc:
        code = cause_code(exc)
        if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise ProviderError(
                f"image {image.uri} is not in ECR: {exc.__cause__.response['Error'].get('Message', code)}",
                hint="push the image first, or check the repository, tag and region in image-uri",
            ) from exc.__cause__
        if code in ("AccessDeniedException", "AccessDenied"):
            calls.log.warning(
                f"ecr:DescribeImages was refused for {image.repository}, so the tag {image.tag} cannot be compared "
                "with the deployed digest: the image is deployed again (grant ecr:DescribeImages for no-op detection)"
            )
            return None
        raise
    details = reply.get("imageDetails") or []
    if not details:
        raise ProviderError(f"image {image.uri} is not in ECR", hint="push the image first")
    return details[0]["imageDigest"].split(":", 1)[-1]
