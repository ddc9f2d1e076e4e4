"""Credentials, project and the authorized session.

Owns: the credentials, in order: `gcp-access-token` (masked at once), the file
GOOGLE_APPLICATION_CREDENTIALS names (service account key, workload identity federation from a
URL or a file, authorized user; loaded by google-auth's own loaders, no call made, no executable
run; read as a regular file only; the subject token of workload identity comes through
subject_token.SubjectToken), else Application Default Credentials; the project (the input, else the credentials', else
GCLOUD_PROJECT / GOOGLE_CLOUD_PROJECT); `check_environment()` (what the job's environment reveals
before any call: a credentials file this container cannot see or use, a missing project); and
`connect()`, which builds the AuthorizedSession and the provider without a request.
Must not: call any API, read os.environ (ctx.environ and the environ given; google-auth's own
ADC lookup is the one exception), or print workflow commands.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.oauth2.credentials
from google.auth.transport.requests import AuthorizedSession

from ... import userfiles
from ...errors import CredentialsError, InputError, Problem
from ...models import FunctionSpec, GcpOptions
from ..base import CONTAINER_NOTE, RunContext
from .client import FUNCTIONS_ENDPOINT, RUN_ENDPOINT, GcpCalls
from .limits import options_of
from .provider import GcpProvider
from .subject_token import SubjectToken

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
CREDENTIALS_FILE_LIMIT = 1 << 20  # a key or workload identity file is a few KB
CREDENTIALS_HINT = (
    "run google-github-actions/auth (workload identity federation) earlier in the same job, "
    "or pass an access token in `gcp-access-token`"
)


def check_environment(spec: FunctionSpec, environ: Mapping[str, str]) -> list[Problem]:
    """What the job's environment reveals before any call: a credentials file this container
    cannot see or use, and a missing or malformed project. Without a token or a credentials
    file, Application Default Credentials may still find the project (gcloud's configuration,
    the metadata server): that case is left to connect()."""
    options = options_of(spec)
    problems: list[Problem] = []
    path = None if options.access_token else environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    file_project = None
    if path:
        try:
            info = _credentials_info(path, environ.get("GITHUB_WORKSPACE", ""))
            file_project = info.get("project_id") if info.get("type") == "service_account" else None
        except CredentialsError as exc:
            problems.append(Problem("", str(exc)))
    if options.access_token or path:
        problems.extend(_project_problems(_project(options, file_project, environ)))
    return problems


def connect(spec: FunctionSpec, ctx: RunContext) -> GcpProvider:
    """A provider with an authorized session; resolves credentials and project, makes no call."""
    options = options_of(spec)
    credentials, credentials_project = _credentials(options, ctx, spec.wait_timeout_s)
    project = _project(options, credentials_project, ctx.environ)
    problems = _project_problems(project)
    if problems:
        raise InputError(problems)
    assert project is not None
    calls = GcpCalls(
        AuthorizedSession(credentials),
        credentials,
        ctx.log,
        ctx.clock,
        functions_endpoint=options.endpoint or FUNCTIONS_ENDPOINT,
        run_endpoint=options.endpoint or RUN_ENDPOINT,
    )
    return GcpProvider(calls, project)


def _project(options: GcpOptions, credentials_project: str | None, environ: Mapping[str, str]) -> str | None:
    """The input, else the credentials' project, else GCLOUD_PROJECT / GOOGLE_CLOUD_PROJECT."""
    return options.project or credentials_project or environ.get("GCLOUD_PROJECT") or environ.get("GOOGLE_CLOUD_PROJECT")


def _project_problems(project: str | None) -> list[Problem]:
    if not project:
        return [Problem("project", (
            "no GCP project: set the `project` input, or give google-github-actions/auth a project_id "
            "so that it exports GOOGLE_CLOUD_PROJECT"
        ))]
    if not re.fullmatch(r"[a-z0-9][a-z0-9.:-]*", project):
        return [Problem("project", f"{project!r} is not a project id")]
    return []


def _credentials(options: GcpOptions, ctx: RunContext, wait_s: float) -> tuple[google.auth.credentials.Credentials, str | None]:
    """`gcp-access-token`, else the file google-github-actions/auth exported, else ADC."""
    if options.access_token:
        ctx.log.mask(options.access_token)
        return google.oauth2.credentials.Credentials(token=options.access_token), None
    path = ctx.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if path:
        return _credentials_file(path, ctx, wait_s)
    try:
        credentials, project = google.auth.default(scopes=list(SCOPES))
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise CredentialsError(f"no GCP credentials found: {exc}", hint=CREDENTIALS_HINT) from exc
    return credentials, project


def _credentials_file(path: str, ctx: RunContext, wait_s: float) -> tuple[google.auth.credentials.Credentials, str | None]:
    """Load the kinds of credential file the auth action writes, by their own loaders: no call
    is made (external accounts exchange their token on first use) and no executable runs. A
    workload identity file gets its subject token through SubjectToken (a timeout, retries
    within `wait_s` on the run's clock, the token masked), not google-auth's single request."""
    info = _credentials_info(path, ctx.environ.get("GITHUB_WORKSPACE", ""))
    kind = info["type"]
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_info(info, scopes=SCOPES), info.get("project_id")
        if kind == "external_account":
            from google.auth import identity_pool

            supplier = SubjectToken(info["credential_source"], ctx.log, ctx.clock, wait_s)
            rest = {key: value for key, value in info.items() if key != "credential_source"}
            return identity_pool.Credentials.from_info(rest, subject_token_supplier=supplier, scopes=SCOPES), None
        return google.oauth2.credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES), None
    except (ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
        raise CredentialsError(f"the credentials file {path} is not valid: {exc}", hint=CREDENTIALS_HINT) from exc


def _credentials_info(path: str, workspace: str) -> dict[str, Any]:
    """The credentials file's JSON, when this container can read it and it is of a supported
    kind (service account key, workload identity federation from a URL or file, authorized
    user); CredentialsError otherwise. Reads one local file, no call: a regular file only (a
    FIFO would block the run), of at most CREDENTIALS_FILE_LIMIT bytes."""
    try:
        info = json.loads(userfiles.read_text(Path(path), CREDENTIALS_FILE_LIMIT))
    except userfiles.UserFileError as exc:
        if not os.path.exists(path):
            raise _missing(path, workspace) from None
        raise CredentialsError(f"GOOGLE_APPLICATION_CREDENTIALS names {path}, which {exc}", hint=CREDENTIALS_HINT) from None
    except (ValueError, RecursionError) as exc:  # not JSON; nested deeper than the parser goes
        raise CredentialsError(f"cannot read the credentials file {path}: {exc}", hint=CREDENTIALS_HINT) from None
    kind = info.get("type") if isinstance(info, dict) else None
    source = info.get("credential_source") if isinstance(info, dict) else None
    external = kind == "external_account" and isinstance(source, dict) and ("url" in source or "file" in source)
    if kind in ("service_account", "authorized_user") or external:
        return info
    raise CredentialsError(
        f"the credentials file {path} is of an unsupported kind ({kind or 'no type'}"
        + (", executable or AWS source" if kind == "external_account" else "") + ")",
        hint="use workload identity federation or a service account key through google-github-actions/auth",
    )


def _missing(path: str, workspace: str) -> CredentialsError:
    """GOOGLE_APPLICATION_CREDENTIALS names nothing: outside the workspace, a path this container
    cannot see; inside, a file removed since the auth step wrote it."""
    if workspace and not _inside(path, workspace):
        return CredentialsError(
            f"GOOGLE_APPLICATION_CREDENTIALS names {path}, outside the workspace ({workspace}), which this "
            f"container cannot see: {CONTAINER_NOTE}; in a job with `container:` the runner does not "
            "rewrite /__w/... paths for the action",
            hint="let google-github-actions/auth write its credentials file into the workspace (its default), "
            "or pass its access token (token_format: access_token) in `gcp-access-token`",
        )
    return CredentialsError(
        f"GOOGLE_APPLICATION_CREDENTIALS names {path}, which does not exist",
        hint="run google-github-actions/auth earlier in the same job (its file lives in the workspace), "
        "and do not remove the workspace in between",
    )


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return os.path.commonpath([path, folder]) == folder
