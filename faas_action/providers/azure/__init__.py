"""Azure Functions provider: deploys a zip to an existing Function App through ARM and Kudu; the
only package that imports the Azure SDKs (azure-core, azure-mgmt-web, azure-identity,
azure-storage-blob).

Split along its seams:
- `session`: credentials (`check_environment`, `connect`);
- `checks`: what the package and the endpoint overrides reveal before any call (`check`);
- `calls`: what every request shares: timeouts, the loopback seam, retry rules, error mapping;
- `arm`: bounded ARM calls (azure-mgmt-web), one method per operation on a site or its slot;
- `site`: a site as read (hosting plan, Kudu host, app URL);
- `method`: the deploy method by hosting plan, and what the platform would refuse;
- `settings`: the app settings after the deploy (environment-mode, remote build) and their diff;
- `deployed`: which package a site runs (the Kudu message we write and read back): no-op detection;
- `kudu`: the Kudu client, /api/publish or /api/zipdeploy, the deployment status and log;
- `run_from_package`: the content-addressed blob, its SAS URL, the trigger sync;
- `functions`: waiting for the functions to be indexed, and the URL output;
- `swap`: production read for a slot swap, and the swap;
- `plan`: reading the site into a Plan (only reads);
- `apply`: the only code that changes the site;
- `provider`: the object main.py talks to.

Failures the network causes: the SDKs' own retry policies are off (azure-core's sleep in real
time, without our deadline); every ARM, Kudu and blob request has its timeouts cut to what its
deadline leaves, and goes through base.retrying: connection failures, 408, 429 and 5xx are
retried on ctx.clock within `wait-timeout` (a write only when it was never sent), a refused
connection is given up on after base.REFUSED_FOR_S.

Must not (any of it): read os.environ (ctx.environ only; DefaultAzureCredential alone reads the
process environment, as it must), print workflow commands (ctx.log only), sleep or wait outside
ctx.clock (every wait has a Deadline of `wait-timeout`), create Function Apps or slots, write
anything in plan(), use basic publishing credentials, or print keys, SAS tokens or app setting
values.
"""

from __future__ import annotations

from .arm import arm_scope
from .calls import DEFAULT_POLL_S
from .checks import check
from .deployed import Deployed, active_deployment, deployment_message
from .functions import FUNCTIONS_WAIT_CAP_S, invoke_url
from .kudu import Kudu, kudu_error
from .method import choose_method, refuse_unworkable
from .plan import AzureState
from .provider import AzureFunctions
from .run_from_package import connection_fields, storage_connection
from .session import StaticToken, check_environment, choose_credential, connect
from .settings import desired_settings, remote_build_settings, settings_diff
from .site import Site, hosting_of, scm_base

IGNORE_FILE: str | None = ".funcignore"
# What `func init` writes into a new .funcignore: used when the project has none.
DEFAULT_IGNORES: tuple[str, ...] = (
    ".git*",
    ".vscode",
    "__azurite_db*__.json",
    "__blobstorage__",
    "__queuestorage__",
    "local.settings.json",
    "test",
    ".venv",
)

__all__ = [
    "IGNORE_FILE", "DEFAULT_IGNORES", "check", "check_environment", "connect", "AzureFunctions", "AzureState",
    "Site", "Deployed", "StaticToken", "Kudu", "choose_credential", "arm_scope", "hosting_of", "scm_base",
    "choose_method", "refuse_unworkable", "desired_settings", "remote_build_settings", "settings_diff",
    "storage_connection", "connection_fields", "active_deployment", "deployment_message", "invoke_url",
    "kudu_error", "DEFAULT_POLL_S", "FUNCTIONS_WAIT_CAP_S",
]
