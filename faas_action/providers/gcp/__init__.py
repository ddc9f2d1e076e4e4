"""Google Cloud Functions (2nd gen) provider: the Cloud Functions v2 and Cloud Run Admin v2 REST
APIs as JSON over google-auth's AuthorizedSession; the only package that imports google-auth.

No Google client library besides google-auth: the GAPIC client (google-cloud-functions) imports
its gRPC transports and google-api-core, hence grpc and protobuf, whatever transport is chosen;
the few calls this provider makes are plain JSON, in the REST API's own shape.

Split along its seams:
- `session`: credentials, project, the authorized session (`check_environment`, `connect`);
  `subject_token`: the GitHub OIDC token behind workload identity federation (timeout, retries);
- `limits`: size limits and refused combinations, checked before any call (`check`);
- `client`: bounded REST calls (deadline, retries on the injected clock, HTTP errors mapped to the
  action's errors, the access token masked);
- `settings`: the settings managed, under the plan's names and the REST API's JSON paths, read,
  wanted, compared and written back as a request body;
- `plan`: reading the function into a Plan (only reads); `apply`: the only code that changes it;
- `upload`: the zip to the signed URL; `operation`: waiting on a deployment, stage by stage;
  `iam`: allow-unauthenticated on the function's Cloud Run service;
- `provider`: the object main.py talks to.
Must not (any of it): read os.environ (google-auth's own ADC lookup is the one exception), print
workflow commands, validate user input (config.py did), sleep except through the injected clock,
or let a redeploy reset a setting the user did not give.
"""

from __future__ import annotations

from .iam import ALL_USERS, INVOKER_ROLE
from .limits import SOURCE_LIMIT, UNZIPPED_LIMIT, check
from .operation import POLL_MAX
from .plan import GcpState
from .provider import GcpProvider
from .session import check_environment, connect
from .settings import CODE_LABEL, SHA_LABEL
from .upload import UPLOAD_ATTEMPTS

IGNORE_FILE = ".gcloudignore"
# gcloud's generated defaults when a source has no .gcloudignore ("gcloud topic gcloudignore").
DEFAULT_IGNORES = (".gcloudignore", ".git", ".gitignore", "#!include:.gitignore")

__all__ = [
    "IGNORE_FILE", "DEFAULT_IGNORES", "check", "check_environment", "connect", "GcpProvider", "GcpState",
    "CODE_LABEL", "SHA_LABEL", "SOURCE_LIMIT", "UNZIPPED_LIMIT", "POLL_MAX", "UPLOAD_ATTEMPTS",
    "INVOKER_ROLE", "ALL_USERS",
]
