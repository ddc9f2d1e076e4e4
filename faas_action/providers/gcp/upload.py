"""The package's upload to the signed URL that generateUploadUrl returns.

Owns: the unauthenticated PUT of the zip (a signed URL refuses credentials), retried on no
answer, 408, 429 and 5xx for at most UPLOAD_ATTEMPTS attempts within the deadline, each
attempt's timeout cut to what the deadline leaves; the URL's signature never appears in a
message.
Must not: call the Cloud Functions API (client.py), or sleep except through the Deadline.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Mapping

import requests

from ...errors import ProviderError
from ...models import Artifact
from ..base import Deadline, Log, backoff_delays
from .client import CALL_TIMEOUT, RETRYABLE_STATUS

UPLOAD_ATTEMPTS = 5


def upload(session: requests.Session, target: Mapping[str, Any], artifact: Artifact, deadline: Deadline, log: Log) -> dict[str, Any]:
    """PUT the zip to `target["uploadUrl"]`; returns `target["storageSource"]`, the source to deploy."""
    url = str(target.get("uploadUrl") or "")
    source = target.get("storageSource")
    if not url.startswith(("https://", "http://")) or not isinstance(source, dict):
        raise ProviderError("generateUploadUrl answered without an upload URL and a storage source")
    delays = backoff_delays()
    problem = ""
    for attempt in range(1, UPLOAD_ATTEMPTS + 1):
        try:
            with open(artifact.path, "rb") as body:
                reply = session.put(url, data=body, headers={"Content-Type": "application/zip"},
                                    timeout=deadline.budget(CALL_TIMEOUT * 5))
        except requests.RequestException as exc:
            problem = _redact(str(exc), url)
        else:
            if reply.status_code in (200, 201):
                log.info(f"uploaded the package ({artifact.size} bytes) to gs://{source.get('bucket', '?')}")
                return dict(source)
            problem = f"HTTP {reply.status_code}: {_redact(reply.text[:300], url)}"
            if reply.status_code not in RETRYABLE_STATUS:
                raise ProviderError(f"the package upload was refused: {problem}")
        if attempt == UPLOAD_ATTEMPTS:
            break
        log.warning(f"package upload attempt {attempt} failed ({problem}); retrying")
        deadline.sleep(next(delays), detail=f"last upload attempt: {problem}")
    raise ProviderError(f"the package upload failed {UPLOAD_ATTEMPTS} times; last: {problem}")


def _redact(text: str, signed_url: str) -> str:
    """Drop a signed URL's signature from a message."""
    query = urllib.parse.urlsplit(signed_url).query
    return text.replace(query, "<signed>") if query else text
