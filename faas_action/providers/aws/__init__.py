"""AWS Lambda provider (botocore, the engine under boto3): the only package that imports botocore.

Split along its seams:
- `session`: credentials and clients (`check_environment`, `connect`);
- `limits`: Lambda's size limits, checked on the Artifact before any call (`check`);
- `client`: bounded calls and waits, the reads shared by plan and apply, error mapping;
- `configuration`: the configuration fields wanted, and one normaliser (Lambda's defaults filled
  in) for the plan diff and the version snapshot;
- `image`: an ECR image URI and the digest its tag names now;
- `url`, `concurrency`: the function URL (and a public one's permissions), reserved and
  provisioned concurrency: planned from plan's reads, applied by apply;
- `plan`: reading the function into a Plan (only reads);
- `apply`: the only code that changes the function;
- `provider`: the object main.py talks to.
Must not (any of it): read os.environ, print workflow commands, validate user input (config/
did), or sleep except through the injected clock.

botocore is used directly: boto3 adds nothing this package needs but s3transfer, whose import
alone costs about 70 ms on every run (the whole of a no-op deploy is ~0.3 s).
"""

from __future__ import annotations

from .limits import DIRECT_UPLOAD_LIMIT, UNZIPPED_LIMIT, check
from .plan import LambdaState
from .provider import LambdaProvider
from .session import _DataLoader, check_environment, connect

IGNORE_FILE: str | None = None
DEFAULT_IGNORES: tuple[str, ...] = ()

__all__ = [
    "IGNORE_FILE", "DEFAULT_IGNORES", "DIRECT_UPLOAD_LIMIT", "UNZIPPED_LIMIT", "check", "check_environment", "connect",
    "LambdaProvider", "LambdaState", "_DataLoader",
]
