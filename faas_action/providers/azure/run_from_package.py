"""Run from package (Linux Consumption): the zip as a blob, WEBSITE_RUN_FROM_PACKAGE pointing at it.

Owns: the blob's content-addressed name (`<app>/<hex sha256>.zip` in container
function-releases) and reading it back from the setting (`running_blob`); the storage account
it goes to (`storage_connection`: AzureWebJobsStorage with an account key); the upload, skipped
when the blob already holds the package, and its read SAS URL (`upload`, azure-storage-blob,
imported only here and only when a package is uploaded); and the trigger sync that follows the
settings update (`sync_triggers`, retried with backoff while the site restarts).
Must not: change the app settings (apply.py writes the URL this returns), print the account key,
the SAS token or the URL (all masked first), or sleep except through the run's clock.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Mapping

from azure.core.exceptions import ResourceNotFoundError

from ...errors import CredentialsError, DeadlineError, ProviderError
from ...models import Artifact, Change
from ..base import Clock, Deadline, Log, backoff_delays, retrying
from .arm import ArmCalls
from .calls import MAX_POLL_S, REQUEST_TIMEOUT_S, calling, retryable, timeouts, unreachable
from .site import Site

RELEASES_CONTAINER = "function-releases"
PACKAGE_BLOB = re.compile(rf"/{RELEASES_CONTAINER}/(?P<blob>(?:[^/?]+/)*(?P<hex>[0-9a-f]{{64}})\.zip)$")
SYNC_ATTEMPTS = 5


def blob_name(app: str, sha256_hex: str) -> str:
    return f"{app}/{sha256_hex}.zip"


def running_blob(settings: Mapping[str, str]) -> tuple[str, str] | None:
    """(hex SHA-256, blob name) of the package WEBSITE_RUN_FROM_PACKAGE names, when it is ours."""
    match = PACKAGE_BLOB.search(strip_query(settings.get("WEBSITE_RUN_FROM_PACKAGE", "")))
    return (match["hex"], match["blob"]) if match else None


def package_change(settings: Mapping[str, str], blob: str) -> Change:
    """The plan's line for the package URL (shown without its SAS token)."""
    old = strip_query(settings.get("WEBSITE_RUN_FROM_PACKAGE")) if "WEBSITE_RUN_FROM_PACKAGE" in settings else None
    return Change("app setting WEBSITE_RUN_FROM_PACKAGE", old, f"{RELEASES_CONTAINER}/{blob}")


def is_package_url(value: str) -> bool:
    """Does this WEBSITE_RUN_FROM_PACKAGE value name a URL (rather than 1, the zip deploy's)?"""
    return value.strip().lower().startswith(("http://", "https://"))


def strip_query(url: str | None) -> str:
    return (url or "").split("?", 1)[0]


def storage_connection(settings: Mapping[str, str], label: str = "the app") -> str:
    """AzureWebJobsStorage as a connection string with an account key (run-from-package needs one)."""
    connection = settings.get("AzureWebJobsStorage", "")
    fields = connection_fields(connection)
    if not (fields.get("accountname") and fields.get("accountkey")) and fields.get("usedevelopmentstorage") != "true":
        raise ProviderError(
            f"run-from-package uploads to the storage account in AzureWebJobsStorage, but the one of {label} "
            "is not a connection string with an account key",
            hint="use deploy-method zipdeploy, or set AzureWebJobsStorage to a connection string with AccountName and AccountKey",
        )
    return connection


def connection_fields(connection: str) -> dict[str, str]:
    """`A=b;C=d` → {'a': 'b', 'c': 'd'} (keys lower-cased; values may contain '=')."""
    fields = {}
    for part in connection.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return fields


def upload(
    artifact: Artifact, blob_path: str, *, settings: Mapping[str, str], label: str, log: Log, clock: Clock, wait_s: float
) -> str:
    """Put the zip at `blob_path` in the storage account of the app `settings` belong to
    (content-addressed) and return a read SAS URL."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobSasPermissions, BlobServiceClient, ContentSettings, generate_blob_sas

    connection = storage_connection(settings)
    key = connection_fields(connection).get("accountkey")
    if key:
        log.mask(key)
    what = f"uploading the package to the storage account of {label}"
    deadline = Deadline(clock, wait_s, what)
    # The blob SDK's own retries are off (they sleep in real time): `retrying` retries the
    # whole step, which is content-addressed and so safe to repeat.
    service = BlobServiceClient.from_connection_string(connection, retry_total=0)
    container = service.get_container_client(RELEASES_CONTAINER)
    blob = container.get_blob_client(blob_path)
    endpoint = service.primary_endpoint

    def attempt() -> None:
        bounds = timeouts(deadline, REQUEST_TIMEOUT_S)
        try:
            container.create_container(**bounds)
        except ResourceExistsError:
            pass
        try:
            uploaded = blob.get_blob_properties(**bounds).size == artifact.size
        except ResourceNotFoundError:
            uploaded = False
        if uploaded:  # content-addressed: same name, same bytes
            log.info(f"Blob {RELEASES_CONTAINER}/{blob_path} already holds this package")
            return
        log.info(f"Uploading the package to blob {RELEASES_CONTAINER}/{blob_path}")
        with open(artifact.path, "rb") as body:
            blob.upload_blob(
                body,
                length=artifact.size,
                overwrite=True,
                content_settings=ContentSettings(content_type="application/zip"),
                metadata={"sha256": artifact.sha256_hex},
                **bounds,
            )

    with calling(what, endpoint):
        retrying(deadline, log, what, attempt, lambda exc: retryable(exc, endpoint))
    # Wall-clock time for the SAS validity (not a wait): ten years, as the Azure CLI does.
    now = datetime.now(timezone.utc)
    sas = generate_blob_sas(
        service.account_name,
        RELEASES_CONTAINER,
        blob_path,
        account_key=service.credential.account_key,
        permission=BlobSasPermissions(read=True),
        start=now - timedelta(minutes=5),
        expiry=now + timedelta(days=3650),
    )
    url = f"{blob.url}?{sas}"
    log.mask(sas)
    log.mask(url)
    return url


def sync_triggers(arm: ArmCalls, site: Site, seconds: float) -> None:
    """Sync the triggers, retried with backoff (the site may be restarting after the settings
    update); a 403 or an unreachable endpoint ends it at once."""
    deadline = Deadline(arm.clock, seconds, f"trigger sync of {site.label}")
    delays = backoff_delays(base=2.0, cap=MAX_POLL_S)
    arm.log.info(f"Syncing the triggers of {site.label}")
    for attempt in range(1, SYNC_ATTEMPTS + 1):
        try:
            arm.sync_triggers(site, deadline)
            return
        except (CredentialsError, DeadlineError):
            raise
        except ProviderError as exc:
            if getattr(exc.__cause__, "status_code", None) == 403 or attempt == SYNC_ATTEMPTS or unreachable(exc):
                raise
            delay = next(delays)
            arm.log.info(f"trigger sync failed ({exc.message}); retrying in {delay:.1f} s")
            deadline.sleep(delay, detail=f"the last attempt failed: {exc.message}")
