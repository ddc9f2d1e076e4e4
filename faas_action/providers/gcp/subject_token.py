"""The subject token of workload identity federation: the GitHub OIDC token, fetched patiently.

Owns: google-auth's SubjectTokenSupplier for the credentials file google-github-actions/auth
writes (`credential_source.url`: the runner's ACTIONS_ID_TOKEN_REQUEST_URL with the audience,
the request token in `headers`; or `credential_source.file`), in place of google-auth's own,
which asks the URL once (one 503 failed the run) and opens the file with a blocking open(). Each
request has a timeout; a connection refused, reset or left unanswered, 408, 429 and 5xx are
retried with backoff on the run's clock within wait-timeout, as GitHub's own toolkit retries
it; the token is masked as soon as it arrives. A file is read as a regular file only.
Must not: exchange the token (google-auth's STS client does), read os.environ, print workflow
commands, or sleep except through the run's clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import google.auth.exceptions
from google.auth import identity_pool

from ... import userfiles
from ...errors import ProviderError
from ..base import Clock, Deadline, Log, Retryable, refused, retrying

WHAT = "get the GitHub OIDC token for workload identity federation"
ATTEMPT_TIMEOUT_S = 10.0  # connect, and then each read: GitHub answers in well under a second
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
TOKEN_FILE_LIMIT = 1 << 20  # a JWT is a few KB


class _Busy(Exception):
    """An answer worth asking again (408, 429, 5xx)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}")
        self.body = body


class SubjectToken(identity_pool.SubjectTokenSupplier):
    """The subject token from `credential_source` (a `url` or a `file`, with its `format`).

    Built from the credentials file before any call; ValueError when the source is not one it
    can read (then the file is not valid)."""

    def __init__(self, source: Mapping[str, Any], log: Log, clock: Clock, wait_s: float) -> None:
        self.url = source.get("url")
        self.file = source.get("file")
        if not (isinstance(self.url, str) and self.url) and not (isinstance(self.file, str) and self.file):
            raise ValueError("credential_source names neither a url nor a file")
        headers = source.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ValueError("credential_source.headers is not a mapping")
        self.headers = {str(k): str(v) for k, v in headers.items()}
        form = source.get("format") or {}
        self.kind = form.get("type", "text") if isinstance(form, Mapping) else None
        self.field = form.get("subject_token_field_name") if isinstance(form, Mapping) else None
        if self.kind not in ("text", "json") or (self.kind == "json" and not self.field):
            raise ValueError("credential_source.format must be text, or json with a subject_token_field_name")
        self.log = log
        self.clock = clock
        self.wait_s = wait_s

    def get_subject_token(self, context: Any, request: Any) -> str:
        """The token (masked), or RefreshError (google-auth's refresh failure) saying why."""
        token = self._read_file() if self.file else self._fetch(request)
        self.log.mask(token)
        return token

    def _fetch(self, request: Any) -> str:
        deadline = Deadline(self.clock, self.wait_s, WHAT)

        def attempt() -> str:
            # `request` is google-auth's transport (the authorized session's proxies and
            # certificates); the explicit timeout replaces the one the session gave it.
            response = request(url=self.url, method="GET", headers=dict(self.headers), timeout=deadline.budget(ATTEMPT_TIMEOUT_S))
            data = response.data
            body = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data or "")
            if response.status in RETRYABLE_STATUS:
                raise _Busy(response.status, body)
            if response.status != 200:
                raise google.auth.exceptions.RefreshError(
                    f"{WHAT}: the request was refused: HTTP {response.status} {' '.join(body.split())[:200]}"
                )
            return self._token_in(body, "the reply")

        try:
            return retrying(deadline, self.log, WHAT, attempt, _retryable)
        except ProviderError as exc:  # the deadline, or refusals that lasted: a failed refresh
            raise google.auth.exceptions.RefreshError(exc.message) from exc

    def _read_file(self) -> str:
        try:
            text = userfiles.read_text(Path(self.file), TOKEN_FILE_LIMIT)
        except userfiles.UserFileError as exc:
            raise google.auth.exceptions.RefreshError(f"the subject token file {self.file} {exc}") from None
        return self._token_in(text, f"the subject token file {self.file}")

    def _token_in(self, text: str, where: str) -> str:
        if self.kind == "text":
            token = text.strip()
        else:
            try:
                answer = json.loads(text)
            except (ValueError, RecursionError):
                answer = None
            token = answer.get(self.field) if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token.strip():
            field = f" (no {self.field!r} field)" if self.kind == "json" else ""
            raise google.auth.exceptions.RefreshError(f"{WHAT}: {where} holds no token{field}")
        return token.strip()


def _retryable(exc: Exception) -> Retryable | None:
    """A connection refused, reset or timed out (google-auth's TransportError) and 408/429/5xx
    are worth another attempt; a refusal (401, 403, 404) is not."""
    if isinstance(exc, google.auth.exceptions.TransportError):
        cause = exc.__cause__ or exc
        detail = " ".join(str(cause).split())[:300]
        if refused(exc):
            return Retryable("no connection", detail, refused=True)
        return Retryable("no answer", detail)
    if isinstance(exc, _Busy):
        return Retryable(str(exc), " ".join(exc.body.split())[:200])
    return None
