"""Google Cloud Functions (2nd gen) provider: google-cloud-functions over REST.

Owns: every Cloud Functions and Cloud Run call. plan() reads the function (waiting while another
deployment runs, refusing 1st gen), compares each given setting and the code-hash label, and
freezes what apply() needs: the Function to send, a minimal update mask, the guard. apply()
uploads the zip to a signed URL, creates or patches the function, waits on the long-running
operation (printing its stages), requires ACTIVE, and sets the allUsers invoker binding on the
underlying Cloud Run service when asked.
Must not: read os.environ (ctx.environ only; google-auth's own ADC lookup is the one exception),
print workflow commands, validate user input (config.py did), wait except through ctx.clock
(google-api-core's real-time retries and polling are switched off on every call), or let a
redeploy reset a setting the user did not give.

Failures the network causes: every request's timeout is cut to what its deadline leaves, and
calls go through base.retrying: no answer, 408, 429 and 5xx are retried on ctx.clock within
`wait-timeout` (a create or update only when it was never sent), and a refused connection is
given up on after base.REFUSED_FOR_S.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.oauth2.credentials
import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.auth.transport.requests import AuthorizedSession
from google.cloud import functions_v2
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2

from ..errors import ActionError, CredentialsError, InputError, Problem, ProviderError
from ..models import Artifact, Change, DeployResult, FunctionSpec, GcpOptions, Plan
from .base import CONTAINER_NOTE, Deadline, Retryable, RunContext, backoff_delays, refused, retrying

IGNORE_FILE = ".gcloudignore"
# gcloud's generated defaults when a source has no .gcloudignore ("gcloud topic gcloudignore").
DEFAULT_IGNORES = (".gcloudignore", ".git", ".gitignore", "#!include:.gitignore")

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
RUN_ENDPOINT = "https://run.googleapis.com"
CODE_LABEL = "faas-code-sha256"  # hex SHA-256 of the zip, cut to the 63 characters a label value holds
SHA_LABEL = "deployed-sha"  # the commit deployed; informative, never a reason to redeploy
OWN_LABELS = (CODE_LABEL, SHA_LABEL)
MAX_LABELS = 64
SOURCE_LIMIT = 100 * 1024 * 1024  # "100MB (compressed) for sources"
UNZIPPED_LIMIT = 500 * 1024 * 1024  # "500MB (uncompressed) for sources plus modules"
PLATFORM_ENV = ("LOG_EXECUTION_ID",)  # added by the platform on deploy (deploy-cloud-functions #421)
INVOKER_ROLE = "roles/run.invoker"
ALL_USERS = "allUsers"
CALL_TIMEOUT = 60.0  # seconds for one HTTP request, at most; waits are bounded by wait-timeout instead
DEFAULT_WAIT_S = 900.0  # wait-timeout's default: the bound of a call made without a deadline
FUNCTIONS_ENDPOINT = "https://cloudfunctions.googleapis.com"
UPLOAD_ATTEMPTS = 5
POLL_FIRST, POLL_FACTOR, POLL_MAX = 0.5, 1.5, 10.0
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
TRANSIENT = (
    api_exceptions.ServiceUnavailable,
    api_exceptions.TooManyRequests,
    api_exceptions.InternalServerError,
    api_exceptions.GatewayTimeout,
    api_exceptions.BadGateway,
)
NETWORK_HINT = "check the runner's network and proxy settings (HTTPS_PROXY, NO_PROXY) and any FAAS_GCP_ENDPOINT"
CREDENTIALS_HINT = (
    "run google-github-actions/auth (workload identity federation) earlier in the same job, "
    "or pass an access token in `gcp-access-token`"
)
PERMISSION_HINT = (
    "the deploying identity needs roles/cloudfunctions.developer on the project and "
    "roles/iam.serviceAccountUser on the runtime service account (docs/gcp.md)"
)

# Settings compared and sent by update-mask path. Values are kept "plain" (str, int, dict,
# list) so that the plan is readable data and comparisons are exact.
ENV_PATHS = ("service_config.environment_variables", "build_config.environment_variables")
SIMPLE_PATHS: dict[str, Callable[[GcpOptions], Any]] = {
    "description": lambda o: o.description,
    "kms_key_name": lambda o: o.kms_key,
    "build_config.runtime": lambda o: o.runtime,
    "build_config.entry_point": lambda o: o.entry_point,
    "service_config.service_account_email": lambda o: o.service_account,
    "service_config.available_memory": lambda o: o.memory,
    "service_config.timeout_seconds": lambda o: o.timeout_s,
    "service_config.min_instance_count": lambda o: o.min_instances,
    "service_config.max_instance_count": lambda o: o.max_instances,
    "service_config.ingress_settings": lambda o: o.ingress,
    "service_config.vpc_connector": lambda o: o.vpc_connector,
}


# -- the module interface ---------------------------------------------------------------------


def check(spec: FunctionSpec, artifact: Artifact) -> list[Problem]:
    """Limits and combinations that need no call: sizes, reserved labels, trigger kinds."""
    options = _options(spec)
    where = "package" if spec.package else "source"
    problems = []
    if artifact.size > SOURCE_LIMIT:
        problems.append(Problem(where, (
            f"the package is {artifact.size} bytes, over Cloud Functions' 100 MB limit for uploaded "
            "sources: exclude files with .gcloudignore (dependencies are installed by the build)"
        )))
    if artifact.unzipped_size > UNZIPPED_LIMIT:
        problems.append(Problem(where, (
            f"the package unzips to {artifact.unzipped_size} bytes, over Cloud Functions' 500 MB limit"
        )))
    labels = options.labels or {}
    for key in OWN_LABELS:
        if key in labels:
            problems.append(Problem("labels", f"{key!r} is set by faas-action (code hash and commit); use another key"))
    if len(set(labels) | set(OWN_LABELS)) > MAX_LABELS:
        problems.append(Problem("labels", f"at most {MAX_LABELS - len(OWN_LABELS)} labels (faas-action adds {len(OWN_LABELS)})"))
    for key in sorted(set(spec.environment or {}) & set(options.secrets or {})):
        problems.append(Problem("secrets", f"{key} is also in `environment`: a variable is plain or secret, not both"))
    if options.event_trigger_type:
        kind, resource = options.event_trigger_type, options.event_trigger_resource or ""
        if kind.startswith("google.cloud.pubsub.") and "/topics/" not in resource:
            problems.append(Problem("event-trigger-resource", f"{kind} needs a topic: projects/P/topics/T"))
        elif kind.startswith("google.cloud.storage.") and "/buckets/" not in resource:
            problems.append(Problem("event-trigger-resource", f"{kind} needs a bucket: projects/_/buckets/B"))
        elif not kind.startswith(("google.cloud.pubsub.", "google.cloud.storage.")):
            problems.append(Problem("event-trigger-type", (
                f"{kind!r} is not supported: use a Pub/Sub event (google.cloud.pubsub.topic.v1.messagePublished) "
                "or a Cloud Storage event (google.cloud.storage.object.v1.finalized, ...)"
            )))
    return problems


def check_environment(spec: FunctionSpec, environ: Mapping[str, str]) -> list[Problem]:
    """What the job's environment reveals before any call: a credentials file this container
    cannot see or use, and a missing or malformed project. Without a token or a credentials
    file, Application Default Credentials may still find the project (gcloud's configuration,
    the metadata server): that case is left to connect()."""
    options = _options(spec)
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


def connect(spec: FunctionSpec, ctx: RunContext) -> "GcpProvider":
    """A provider with a REST FunctionServiceClient; resolves credentials and project, no call."""
    options = _options(spec)
    credentials, credentials_project = _credentials(options, ctx)
    project = _project(options, credentials_project, ctx.environ)
    problems = _project_problems(project)
    if problems:
        raise InputError(problems)
    assert project is not None
    client_options = ClientOptions(api_endpoint=options.endpoint) if options.endpoint else None
    client = functions_v2.FunctionServiceClient(credentials=credentials, transport="rest", client_options=client_options)
    return GcpProvider(
        client=client,
        session=AuthorizedSession(credentials),
        credentials=credentials,
        project=project,
        run_endpoint=options.endpoint or RUN_ENDPOINT,
        ctx=ctx,
        api_endpoint=options.endpoint or FUNCTIONS_ENDPOINT,
        wait_s=spec.wait_timeout_s,
    )


def _options(spec: FunctionSpec) -> GcpOptions:
    assert isinstance(spec.options, GcpOptions), "the gcp provider got another provider's spec"
    return spec.options


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


def _credentials(options: GcpOptions, ctx: RunContext) -> tuple[google.auth.credentials.Credentials, str | None]:
    """`gcp-access-token`, else the file google-github-actions/auth exported, else ADC."""
    if options.access_token:
        ctx.log.mask(options.access_token)
        return google.oauth2.credentials.Credentials(token=options.access_token), None
    path = ctx.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if path:
        return _credentials_file(path, ctx.environ.get("GITHUB_WORKSPACE", ""))
    try:
        credentials, project = google.auth.default(scopes=list(SCOPES))
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise CredentialsError(f"no GCP credentials found: {exc}", hint=CREDENTIALS_HINT) from exc
    return credentials, project


def _credentials_file(path: str, workspace: str) -> tuple[google.auth.credentials.Credentials, str | None]:
    """Load the kinds of credential file the auth action writes, by their own loaders: no call
    is made (external accounts exchange their token on first use) and no executable runs."""
    info = _credentials_info(path, workspace)
    kind = info["type"]
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_info(info, scopes=SCOPES), info.get("project_id")
        if kind == "external_account":
            from google.auth import identity_pool

            return identity_pool.Credentials.from_info(info, scopes=SCOPES), None
        return google.oauth2.credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES), None
    except (ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
        raise CredentialsError(f"the credentials file {path} is not valid: {exc}", hint=CREDENTIALS_HINT) from exc


def _credentials_info(path: str, workspace: str) -> dict[str, Any]:
    """The credentials file's JSON, when this container can read it and it is of a supported
    kind (service account key, workload identity federation from a URL or file, authorized
    user); CredentialsError otherwise. Reads one local file, no call."""
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except FileNotFoundError as exc:
        if workspace and not _inside(path, workspace):
            raise CredentialsError(
                f"GOOGLE_APPLICATION_CREDENTIALS names {path}, outside the workspace ({workspace}), which this "
                f"container cannot see: {CONTAINER_NOTE}; in a job with `container:` the runner does not "
                "rewrite /__w/... paths for the action",
                hint="let google-github-actions/auth write its credentials file into the workspace (its default), "
                "or pass its access token (token_format: access_token) in `gcp-access-token`",
            ) from exc
        raise CredentialsError(
            f"GOOGLE_APPLICATION_CREDENTIALS names {path}, which does not exist",
            hint="run google-github-actions/auth earlier in the same job (its file lives in the workspace), "
            "and do not remove the workspace in between",
        ) from exc
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"cannot read the credentials file {path}: {exc}", hint=CREDENTIALS_HINT) from exc
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


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return os.path.commonpath([path, folder]) == folder


# -- frozen plan data -----------------------------------------------------------------------


@dataclass(frozen=True)
class GcpState:
    """What apply() needs, read at plan time. `function` is a serialized functions_v2.Function."""

    name: str
    create: bool
    function: bytes
    update_mask: tuple[str, ...]
    upload: bool
    update_time: str  # guard: the function must be unchanged between plan and apply
    invoker: bool | None  # True: grant allUsers run.invoker, False: revoke, None: leave alone
    url: str
    revision: str


# -- the provider ---------------------------------------------------------------------------


class GcpProvider:
    """Plans and applies one function in one project and region."""

    def __init__(
        self,
        client: functions_v2.FunctionServiceClient,
        session: AuthorizedSession,
        credentials: google.auth.credentials.Credentials,
        project: str,
        run_endpoint: str,
        ctx: RunContext,
        api_endpoint: str = FUNCTIONS_ENDPOINT,
        wait_s: float = DEFAULT_WAIT_S,
    ) -> None:
        self.client = client
        self.api_endpoint = api_endpoint.rstrip("/")
        self.wait_s = wait_s
        self.session = session  # authorized: Cloud Run IAM calls
        self.uploads = requests.Session()  # unauthenticated: signed URLs refuse credentials
        self.credentials = credentials
        self.project = project
        self.run_endpoint = run_endpoint.rstrip("/")
        self.ctx = ctx
        self.log = ctx.log
        self._masked_token: str | None = None

    # -- plan ---------------------------------------------------------------------------------
    def plan(self, spec: FunctionSpec, artifact: Artifact) -> Plan:
        options = _options(spec)
        name = self.client.function_path(self.project, options.region, spec.name)
        deadline = Deadline(self.ctx.clock, spec.wait_timeout_s, f"reading function {name}")
        current = self._read(name, deadline)
        code_hex = artifact.sha256_hex[:63]
        wanted = _wanted_settings(spec, options, _settings_of(current) if current else None)
        labels = {**(dict(current.labels) if current else {}), **dict(options.labels or {}), CODE_LABEL: code_hex}
        sha = _label_value(spec.github.sha)
        if sha:
            labels[SHA_LABEL] = sha
        if current is None:
            return self._plan_create(spec, options, artifact, name, wanted, labels)
        return self._plan_update(spec, options, artifact, current, wanted, labels, code_hex)

    def _plan_create(
        self,
        spec: FunctionSpec,
        options: GcpOptions,
        artifact: Artifact,
        name: str,
        wanted: dict[str, Any],
        labels: dict[str, str],
    ) -> Plan:
        if not options.runtime:
            raise ProviderError(
                f"function {name} does not exist; creating it needs `runtime`",
                hint="set runtime (e.g. python312, nodejs22), or check function-name, project and region",
            )
        values = dict(wanted)
        values["labels"] = labels
        values["environment"] = "GEN_2"
        if options.event_trigger_type:
            values["event_trigger.event_type"] = options.event_trigger_type
        changes = [_change(path, None, value) for path, value in sorted(values.items()) if path not in ("labels", "environment")]
        if options.labels:
            changes.append(Change("labels", None, dict(options.labels)))
        steps = [
            f"upload the package ({artifact.size} bytes) to a signed URL",
            f"create function {name}",
            f"wait for the deployment (at most {spec.wait_timeout_s:g} s) and require state ACTIVE",
        ]
        if options.allow_unauthenticated:
            steps.append(f"grant {INVOKER_ROLE} to {ALL_USERS} on the function's Cloud Run service")
        state = GcpState(
            name=name,
            create=True,
            function=functions_v2.Function.serialize(_message(values)),
            update_mask=(),
            upload=True,
            update_time="",
            invoker=True if options.allow_unauthenticated else None,
            url="",
            revision="",
        )
        return Plan("gcp", spec.name, "create", tuple(changes), None, artifact.sha256, tuple(steps), state=state)

    def _plan_update(
        self,
        spec: FunctionSpec,
        options: GcpOptions,
        artifact: Artifact,
        current: functions_v2.Function,
        wanted: dict[str, Any],
        labels: dict[str, str],
        code_hex: str,
    ) -> Plan:
        _refuse_trigger_switch(current, options)
        now = _settings_of(current)
        mask: list[str] = []
        changes: list[Change] = []
        for path, value in wanted.items():
            if not _same(path, now.get(path), value):
                mask.append(path)
                changes.append(_change(path, now.get(path), value))
        old_code = current.labels.get(CODE_LABEL)
        # A failed deploy already wrote its labels: only an ACTIVE function can be a no-op, so
        # that re-running after a failure deploys again instead of reporting "unchanged".
        active = current.state == functions_v2.Function.State.ACTIVE
        upload = old_code != code_hex or not active
        if upload:
            mask.insert(0, "build_config.source")
        if not active:
            changes.append(Change("state", _enum_name(current.state), "ACTIVE"))
        old_labels = dict(current.labels)
        shown = sorted(k for k in set(labels) - set(OWN_LABELS) if old_labels.get(k) != labels[k])
        if shown:
            changes.append(Change("labels", {k: old_labels.get(k) for k in shown}, {k: labels[k] for k in shown}))
        if mask or shown:
            # Every function write records the code hash and commit; a `labels` mask replaces the
            # whole map, hence the merge with the labels read above.
            mask.append("labels")

        service = current.service_config.service
        invoker = self._invoker_change(options.allow_unauthenticated, service)
        if invoker is not None:
            changes.append(Change("allow-unauthenticated", not invoker, invoker))

        steps = []
        if upload:
            steps.append(f"upload the package ({artifact.size} bytes) to a signed URL")
        if mask:
            steps.append(f"update function {current.name} with update mask: {', '.join(mask)}")
            steps.append(f"wait for the deployment (at most {spec.wait_timeout_s:g} s) and require state ACTIVE")
        if invoker is not None:
            steps.append(f"{'grant' if invoker else 'revoke'} {INVOKER_ROLE} for {ALL_USERS} on {service}")
        values = {path: wanted[path] for path in mask if path in wanted}
        values["labels"] = labels
        state = GcpState(
            name=current.name,
            create=False,
            function=functions_v2.Function.serialize(_message(values)),
            update_mask=tuple(mask),
            upload=upload,
            update_time=_stamp(current),
            invoker=invoker,
            url=current.url or current.service_config.uri,
            revision=current.service_config.revision,
        )
        return Plan(
            "gcp",
            spec.name,
            "update" if (mask or invoker is not None) else "none",
            tuple(changes),
            artifact.sha256 if old_code == code_hex else (f"hex:{old_code}" if old_code else None),
            artifact.sha256,
            tuple(steps),
            state=state,
        )

    def _invoker_change(self, allow: bool | None, service: str) -> bool | None:
        """True/False when the allUsers invoker binding must be granted/revoked, None otherwise."""
        if allow is None:
            return None
        if not service:
            return True if allow else None
        try:
            public = _is_public(self._iam("GET", f"{service}:getIamPolicy", "read the IAM policy"))
        except ProviderError as exc:
            # A dry run may lack run.services.getIamPolicy; apply reads the policy again anyway.
            self.log.warning(f"could not read the IAM policy of {service} ({exc.message}); apply will set it")
            return allow
        return None if public == allow else allow

    # -- apply --------------------------------------------------------------------------------
    def apply(self, plan: Plan, spec: FunctionSpec, artifact: Artifact) -> DeployResult:
        state: GcpState = plan.state
        if plan.action == "none":
            self.log.info(f"{state.name} already runs this code and settings: nothing to deploy")
            return DeployResult(function_id=state.name, changed=False, version=state.revision, url=state.url)
        if state.create or state.update_mask:
            message = functions_v2.Function.deserialize(state.function)
            if not state.create:
                self._guard(state, spec)
            if state.upload:
                message.build_config.source = functions_v2.Source(storage_source=self._upload(spec, state, artifact))
            operation = self._write(state, message, spec.name)
            self._wait(operation, Deadline(self.ctx.clock, spec.wait_timeout_s, f"deploying function {spec.name}"))
        function = self._verify(state.name, spec)
        if state.invoker is not None:
            self._set_invoker(function.service_config.service, state.invoker, spec)
        return DeployResult(
            function_id=function.name,
            changed=True,
            version=function.service_config.revision,
            url=function.url or function.service_config.uri,
        )

    def _guard(self, state: GcpState, spec: FunctionSpec) -> None:
        deadline = Deadline(self.ctx.clock, spec.wait_timeout_s, f"reading function {state.name}")
        function = self._call("read the function", self.client.get_function, name=state.name, deadline=deadline)
        if _stamp(function) != state.update_time or function.state == functions_v2.Function.State.DEPLOYING:
            raise ProviderError(
                f"function {state.name} changed after the plan (updated {_stamp(function) or '?'}, "
                f"planned against {state.update_time or '?'}); nothing was deployed",
                hint="another deployment ran at the same time; re-run this step to plan again",
            )

    def _upload(self, spec: FunctionSpec, state: GcpState, artifact: Artifact) -> functions_v2.StorageSource:
        options = _options(spec)
        request = functions_v2.GenerateUploadUrlRequest(
            parent=state.name.rsplit("/functions/", 1)[0],
            environment=functions_v2.Environment.GEN_2,
            kms_key_name=options.kms_key or "",
        )
        deadline = Deadline(self.ctx.clock, spec.wait_timeout_s, "uploading the package")
        target = self._call("generate an upload URL", self.client.generate_upload_url, request=request, deadline=deadline)
        delays = backoff_delays()
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            try:
                with open(artifact.path, "rb") as body:
                    reply = self.uploads.put(
                        target.upload_url,
                        data=body,
                        headers={"Content-Type": "application/zip"},
                        timeout=deadline.budget(CALL_TIMEOUT * 5),
                    )
            except requests.RequestException as exc:
                problem = _redact(str(exc), target.upload_url)
            else:
                if reply.status_code in (200, 201):
                    self.log.info(f"uploaded the package ({artifact.size} bytes) to gs://{target.storage_source.bucket}")
                    return target.storage_source
                problem = f"HTTP {reply.status_code}: {_redact(reply.text[:300], target.upload_url)}"
                if reply.status_code not in RETRYABLE_STATUS:
                    raise ProviderError(f"the package upload was refused: {problem}")
            if attempt == UPLOAD_ATTEMPTS:
                break
            self.log.warning(f"package upload attempt {attempt} failed ({problem}); retrying")
            deadline.sleep(next(delays), detail=f"last upload attempt: {problem}")
        raise ProviderError(f"the package upload failed {UPLOAD_ATTEMPTS} times; last: {problem}")

    def _write(self, state: GcpState, message: functions_v2.Function, function_id: str):
        if state.create:
            self.log.info(f"creating {state.name}")
            return self._call(
                "create the function",
                self.client.create_function,
                parent=state.name.rsplit("/functions/", 1)[0],
                function=message,
                function_id=function_id,
                retry_transient=False,
            )
        message.name = state.name
        self.log.info(f"updating {state.name} (update mask: {', '.join(state.update_mask)})")
        return self._call(
            "update the function",
            self.client.update_function,
            function=message,
            update_mask=field_mask_pb2.FieldMask(paths=list(state.update_mask)),
            retry_transient=False,
        )

    def _wait(self, operation: Any, deadline: Deadline) -> None:
        """Poll the long-running operation on the injected clock until done or past the deadline."""
        raw: operations_pb2.Operation = operation.operation
        reported: dict[str, str] = {}
        delays = _poll_delays()
        while True:
            metadata = _metadata(raw)
            self._report(metadata, reported)
            if raw.done:
                break
            deadline.sleep(next(delays), detail=f"{_progress(metadata)}; operation {raw.name} may still finish on its own")
            raw = self._call(
                "read the deployment operation",
                self.client.transport.operations_client.get_operation,
                raw.name,
                deadline=deadline,
            )
        if raw.HasField("error"):
            raise ProviderError(_failure(metadata, raw.error.message or f"error code {raw.error.code}"))

    def _report(self, metadata: functions_v2.OperationMetadata, reported: dict[str, str]) -> None:
        for stage in metadata.stages:
            key = _enum_name(stage.name)
            line = f"{key}: {_enum_name(stage.state)}" + (f" - {stage.message}" if stage.message else "")
            if reported.get(key) != line:
                reported[key] = line
                self.log.info(f"  {line}")
            if stage.resource_uri and f"{key}-uri" not in reported:
                reported[f"{key}-uri"] = stage.resource_uri
                self.log.info(f"  {key} logs: {stage.resource_uri}")

    def _verify(self, name: str, spec: FunctionSpec) -> functions_v2.Function:
        deadline = Deadline(self.ctx.clock, spec.wait_timeout_s, f"reading function {name}")
        function = self._call("read the deployed function", self.client.get_function, name=name, deadline=deadline)
        if function.state != functions_v2.Function.State.ACTIVE:
            messages = "; ".join(f"{_enum_name(m.severity)}: {m.message}" for m in function.state_messages)
            raise ProviderError(
                f"function {name} is {_enum_name(function.state)} after the deployment, not ACTIVE"
                + (f": {messages}" if messages else "")
            )
        self.log.info(f"{name} is ACTIVE, revision {function.service_config.revision}")
        return function

    # -- allow-unauthenticated: Cloud Run IAM ---------------------------------------------------
    def _set_invoker(self, service: str, allow: bool, spec: FunctionSpec) -> None:
        if not service:
            raise ProviderError(f"function {spec.name} has no Cloud Run service to set the invoker on")
        deadline = Deadline(self.ctx.clock, spec.wait_timeout_s, f"setting the IAM policy of {service}")
        delays = backoff_delays()
        while True:
            policy = self._iam("GET", f"{service}:getIamPolicy", "read the IAM policy", deadline=deadline)
            updated = _with_invoker(policy, allow)
            if updated is None:
                self.log.info(f"{service}: {ALL_USERS} {'already has' if allow else 'does not have'} {INVOKER_ROLE}")
                return
            try:
                # Guarded by the policy's etag: a retry after a lost reply meets a 409 and reads again.
                self._iam("POST", f"{service}:setIamPolicy", "set the IAM policy", {"policy": updated}, deadline=deadline)
            except _PolicyConflict:
                deadline.sleep(next(delays), detail="the IAM policy kept changing concurrently")
                continue
            self.log.info(f"{service}: {'granted' if allow else 'revoked'} {INVOKER_ROLE} for {ALL_USERS}")
            return

    def _iam(
        self, method: str, resource_verb: str, what: str, body: dict[str, Any] | None = None, deadline: Deadline | None = None
    ) -> dict[str, Any]:
        url = f"{self.run_endpoint}/v2/{resource_verb}"
        deadline = deadline or Deadline(self.ctx.clock, self.wait_s, what)

        def attempt() -> requests.Response:
            reply = self.session.request(method, url, json=body, timeout=deadline.budget(CALL_TIMEOUT))
            if reply.status_code in RETRYABLE_STATUS:
                raise _Busy(reply)
            return reply

        try:
            reply = retrying(deadline, self.log, what, attempt, lambda exc: _retryable(exc, self.run_endpoint))
        except google.auth.exceptions.GoogleAuthError as exc:
            raise CredentialsError(f"{what}: could not get a GCP access token: {exc}") from exc
        except requests.RequestException as exc:
            raise ProviderError(f"{what}: cannot reach {self.run_endpoint}: {exc}", hint=NETWORK_HINT) from exc
        if reply.status_code == 200:
            return reply.json()
        message = _error_message(reply)
        if reply.status_code in (409, 412) and method == "POST":
            raise _PolicyConflict(f"{what}: {message}")
        if reply.status_code == 403:
            raise ProviderError(
                f"{what} of {resource_verb.split(':')[0]}: permission denied: {message}",
                hint="allow-unauthenticated needs run.services.getIamPolicy and run.services.setIamPolicy "
                "(roles/run.admin, or a custom role with both) on the function's service",
            )
        raise ProviderError(f"{what} of {resource_verb.split(':')[0]} failed: HTTP {reply.status_code} {message}")

    # -- calls --------------------------------------------------------------------------------
    def _read(self, name: str, deadline: Deadline) -> functions_v2.Function | None:
        """The function, None when it does not exist; waits while another deployment runs."""
        delays = _poll_delays()
        while True:
            try:
                function = self._call("read the function", self.client.get_function, name=name, deadline=deadline, missing_ok=True)
            finally:
                self._mask_token()
            if function is None:
                return None
            if function.environment == functions_v2.Environment.GEN_1:
                raise ProviderError(
                    f"function {name} is a 1st gen function; this action deploys 2nd gen only and "
                    "Cloud Functions cannot convert one in place",
                    hint="deploy under another function-name, or delete the 1st gen function first",
                )
            if function.state == functions_v2.Function.State.DELETING:
                raise ProviderError(f"function {name} is being deleted", hint="re-run once the deletion has finished")
            if function.state != functions_v2.Function.State.DEPLOYING:
                return function
            self.log.info(f"{name} is DEPLOYING (another deployment is running); waiting for it")
            deadline.sleep(next(delays), detail="the function is still DEPLOYING")

    def _call(
        self,
        what: str,
        method: Callable[..., Any],
        *args: Any,
        deadline: Deadline | None = None,
        retry_transient: bool = True,
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> Any:
        """One API call without google-api-core's real-time retry, its timeout cut to `deadline`
        (wait-timeout from now when none is given). Transient failures are retried on the
        injected clock until the deadline; with retry_transient=False (a create or an update)
        only a request that was never sent is."""
        deadline = deadline or Deadline(self.ctx.clock, self.wait_s, what)
        try:
            return retrying(
                deadline,
                self.log,
                what,
                lambda: method(*args, retry=None, timeout=deadline.budget(CALL_TIMEOUT), **kwargs),
                lambda exc: _retryable(exc, self.api_endpoint, write=not retry_transient),
            )
        except api_exceptions.NotFound as exc:
            if missing_ok:
                return None
            raise _api_error(what, exc, self.api_endpoint) from exc
        except (api_exceptions.GoogleAPICallError, google.auth.exceptions.GoogleAuthError, requests.RequestException) as exc:
            raise _api_error(what, exc, self.api_endpoint) from exc

    def _mask_token(self) -> None:
        """Mask an access token obtained by refreshing ADC (a given token is masked already)."""
        token = getattr(self.credentials, "token", None)
        if token and token != self._masked_token:
            self._masked_token = token
            self.log.mask(token)


class _PolicyConflict(ProviderError):
    """setIamPolicy refused a stale etag: read the policy again."""


class _Busy(Exception):
    """An HTTP answer worth asking again (408, 429, 5xx) from a call made with requests."""

    def __init__(self, reply: requests.Response) -> None:
        super().__init__(f"HTTP {reply.status_code}")
        self.reply = reply


def _retryable(exc: Exception, endpoint: str, write: bool = False) -> Retryable | None:
    """Is this failure worth another attempt? A request never sent (refused, connect timeout)
    always is; no answer, 408, 429 and 5xx are too, unless it was a `write` that may have taken
    effect."""
    never_sent = isinstance(exc, requests.ConnectTimeout) or (isinstance(exc, requests.ConnectionError) and refused(exc))
    if never_sent:
        return Retryable("no connection", f"{endpoint}: {_short(exc)}", refused=refused(exc), hint=NETWORK_HINT)
    if write:
        return None
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return Retryable("no answer", f"{endpoint}: {_short(exc)}", hint=NETWORK_HINT)
    if isinstance(exc, _Busy):
        return Retryable(str(exc), _error_message(exc.reply), after=_seconds(exc.reply.headers.get("Retry-After")))
    if isinstance(exc, TRANSIENT):
        return Retryable(type(exc).__name__, getattr(exc, "message", None) or str(exc))
    return None


def _short(exc: Exception) -> str:
    """A requests/urllib3 error in one line: the innermost reason, not the whole wrapper chain."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return " ".join(str(reason or exc).split())[:300]


def _seconds(value: str | None) -> float | None:
    try:
        return min(max(float(value), 0.0), 60.0) if value else None
    except ValueError:
        return None


# -- plain values: settings read from a function and wanted by the spec ----------------------


def _settings_of(function: functions_v2.Function) -> dict[str, Any]:
    """The function's current value for every path the spec may set."""
    build, service, trigger = function.build_config, function.service_config, function.event_trigger
    return {
        "description": function.description,
        "kms_key_name": function.kms_key_name,
        "build_config.runtime": build.runtime,
        "build_config.entry_point": build.entry_point,
        "build_config.environment_variables": dict(build.environment_variables),
        "service_config.service_account_email": service.service_account_email,
        "service_config.available_memory": service.available_memory,
        "service_config.timeout_seconds": service.timeout_seconds,
        "service_config.min_instance_count": service.min_instance_count,
        "service_config.max_instance_count": service.max_instance_count,
        "service_config.ingress_settings": _enum_name(service.ingress_settings),
        "service_config.vpc_connector": service.vpc_connector,
        "service_config.environment_variables": dict(service.environment_variables),
        "service_config.secret_environment_variables": {
            s.key: {"project_id": s.project_id, "secret": s.secret, "version": s.version}
            for s in service.secret_environment_variables
        },
        "event_trigger.pubsub_topic": trigger.pubsub_topic,
        "event_trigger.event_filters": sorted(
            ({"attribute": f.attribute, "value": f.value, "operator": f.operator} for f in trigger.event_filters),
            key=lambda f: (f["attribute"], f["value"]),
        ),
        "event_trigger.retry_policy": _enum_name(trigger.retry_policy),
    }


def _wanted_settings(spec: FunctionSpec, options: GcpOptions, now: dict[str, Any] | None) -> dict[str, Any]:
    """The value of every path the user gave, merged with `now` where the inputs merge."""
    now = now or {}
    wanted = {path: get(options) for path, get in SIMPLE_PATHS.items() if get(options) is not None}
    merge = spec.environment_mode == "merge"
    if options.build_environment is not None:
        wanted["build_config.environment_variables"] = _combine(
            now.get("build_config.environment_variables", {}), options.build_environment, merge
        )

    env_now = now.get("service_config.environment_variables", {})
    secrets_now = now.get("service_config.secret_environment_variables", {})
    env_given = spec.environment
    secrets_given = None if options.secrets is None else {k: _secret_ref(v) for k, v in options.secrets.items()}
    env = None if env_given is None else _combine(env_now, env_given, merge, keep=PLATFORM_ENV)
    secrets = None if secrets_given is None else _combine(secrets_now, secrets_given, merge)
    # A name is a plain variable or a secret, never both: what the user gives wins over what is
    # on the function, so a name moving from one to the other is removed from its old place.
    if env_given and secrets is None and set(env_given) & set(secrets_now):
        secrets = dict(secrets_now)
    if secrets_given and env is None and set(secrets_given) & set(env_now):
        env = dict(env_now)
    if env is not None:
        env = {k: v for k, v in env.items() if k not in (secrets_given or {})}
        wanted["service_config.environment_variables"] = env
    if secrets is not None:
        secrets = {k: v for k, v in secrets.items() if k not in (env_given or {})}
        wanted["service_config.secret_environment_variables"] = secrets

    if options.event_trigger_type:
        resource = options.event_trigger_resource or ""
        if "/topics/" in resource:
            wanted["event_trigger.pubsub_topic"] = resource
        else:
            bucket = resource.rsplit("/", 1)[-1]
            wanted["event_trigger.event_filters"] = [{"attribute": "bucket", "value": bucket, "operator": ""}]
        if options.event_trigger_retry is not None:
            wanted["event_trigger.retry_policy"] = (
                "RETRY_POLICY_RETRY" if options.event_trigger_retry else "RETRY_POLICY_DO_NOT_RETRY"
            )
    return wanted


def _combine(now: Mapping[str, Any], given: Mapping[str, Any], merge: bool, keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """merge: `now` overlaid with `given`; replace: `given` plus the platform's own keys."""
    if merge:
        return {**now, **given}
    return {**{k: now[k] for k in keep if k in now}, **given}


def _secret_ref(reference: str) -> dict[str, str]:
    """`projects/P/secrets/S[/versions/V]` → the SecretEnvVar fields (version defaults to latest)."""
    parts = reference.split("/")
    return {"project_id": parts[1], "secret": parts[3], "version": parts[5] if len(parts) > 5 else "latest"}


def _same(path: str, old: Any, new: Any) -> bool:
    if path == "service_config.available_memory":
        return _memory_bytes(old) == _memory_bytes(new) if old and new else old == new
    return old == new


MEMORY_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _memory_bytes(value: str) -> float | None:
    """A Kubernetes-style quantity (`256Mi`, `1Gi`, `512M`) in bytes; None if unreadable."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kMG]i?|Ki)?", value.strip())
    if not match:
        return None
    return float(match.group(1)) * MEMORY_UNITS[match.group(2) or ""]


def _change(path: str, old: Any, new: Any) -> Change:
    """A plan row; variable values are never shown (they are masked secrets)."""
    if path in ENV_PATHS:
        old, new = old or {}, new or {}
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return Change(path, None, {"changed keys": keys})
    if path == "service_config.secret_environment_variables":
        old, new = old or {}, new or {}
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return Change(path, {k: _secret_name(old.get(k)) for k in keys}, {k: _secret_name(new.get(k)) for k in keys})
    return Change(path, old, new)


def _secret_name(ref: Mapping[str, str] | None) -> str | None:
    if not ref:
        return None
    return f"projects/{ref['project_id']}/secrets/{ref['secret']}/versions/{ref['version']}"


def _message(values: Mapping[str, Any]) -> functions_v2.Function:
    """A Function holding `values` (mask path → plain value) at their paths."""
    tree: dict[str, Any] = {}
    for path, value in values.items():
        *parents, leaf = path.split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        if path == "service_config.secret_environment_variables":
            value = [{"key": k, **ref} for k, ref in sorted(value.items())]
        node[leaf] = value
    return functions_v2.Function(tree)


def _refuse_trigger_switch(current: functions_v2.Function, options: GcpOptions) -> None:
    """Cloud Functions cannot switch a function between HTTP and event triggers, or event types."""
    current_type = current.event_trigger.event_type if "event_trigger" in current else ""
    name = current.name
    hint = "deploy under another function-name, or delete the function first"
    if options.event_trigger_type and not current_type:
        raise ProviderError(f"function {name} is HTTP-triggered; it cannot become event-triggered in place", hint=hint)
    if options.event_trigger_type and current_type != options.event_trigger_type:
        raise ProviderError(
            f"function {name} is triggered by {current_type}; its event type cannot change to "
            f"{options.event_trigger_type} in place",
            hint=hint,
        )
    if options.trigger_http and current_type:
        raise ProviderError(f"function {name} is triggered by {current_type}; it cannot become HTTP-triggered in place", hint=hint)


# -- small helpers ----------------------------------------------------------------------------


def _label_value(text: str) -> str:
    """A label value: lowercase letters, digits, - and _, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def _enum_name(value: Any) -> str:
    return getattr(value, "name", str(value))


def _stamp(function: functions_v2.Function) -> str:
    stamp = function.update_time
    return stamp.rfc3339() if stamp else ""


def _poll_delays() -> Iterator[float]:
    delay = POLL_FIRST
    while True:
        yield delay
        delay = min(POLL_MAX, delay * POLL_FACTOR)


def _metadata(raw: operations_pb2.Operation) -> functions_v2.OperationMetadata:
    if raw.HasField("metadata") and raw.metadata.type_url.endswith("OperationMetadata"):
        return functions_v2.OperationMetadata.deserialize(raw.metadata.value)
    return functions_v2.OperationMetadata()


def _progress(metadata: functions_v2.OperationMetadata) -> str:
    stages = [
        f"{_enum_name(s.name)} {_enum_name(s.state)}" + (f" ({s.message})" if s.message else "")
        for s in metadata.stages
    ]
    return "last reported: " + (", ".join(stages) if stages else "no stage yet")


def _failure(metadata: functions_v2.OperationMetadata, message: str) -> str:
    """The service's message plus the build log link and the failing stages' messages."""
    parts = [f"the deployment failed: {message}"]
    for stage in metadata.stages:
        for state_message in stage.state_messages:
            if state_message.message and state_message.message not in message:
                parts.append(f"{_enum_name(stage.name)}: {state_message.message}")
        if stage.name == functions_v2.Stage.Name.BUILD and stage.resource_uri and stage.resource_uri not in message:
            parts.append(f"build log: {stage.resource_uri}")
    return "; ".join(parts)


def _is_public(policy: Mapping[str, Any]) -> bool:
    return any(
        b.get("role") == INVOKER_ROLE and ALL_USERS in b.get("members", []) and not b.get("condition")
        for b in policy.get("bindings", [])
    )


def _with_invoker(policy: Mapping[str, Any], allow: bool) -> dict[str, Any] | None:
    """The policy with allUsers added to (or removed from) run.invoker; None when already so."""
    if _is_public(policy) == allow:
        return None
    bindings = [dict(b) for b in policy.get("bindings", [])]
    binding = next((b for b in bindings if b.get("role") == INVOKER_ROLE and not b.get("condition")), None)
    if allow:
        if binding is None:
            bindings.append({"role": INVOKER_ROLE, "members": [ALL_USERS]})
        else:
            binding["members"] = sorted({*binding.get("members", []), ALL_USERS})
    else:
        assert binding is not None
        binding["members"] = [m for m in binding.get("members", []) if m != ALL_USERS]
        if not binding["members"]:
            bindings.remove(binding)
    return {**policy, "bindings": bindings}


def _error_message(reply: requests.Response) -> str:
    try:
        return reply.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return reply.text[:300]


def _redact(text: str, signed_url: str) -> str:
    """Drop a signed URL's signature from a message."""
    query = urllib.parse.urlsplit(signed_url).query
    return text.replace(query, "<signed>") if query else text


def _api_error(what: str, exc: Exception, endpoint: str = FUNCTIONS_ENDPOINT) -> ActionError:
    """An SDK, auth or transport failure as the action's error, keeping the service's message."""
    if isinstance(exc, google.auth.exceptions.GoogleAuthError):
        return CredentialsError(
            f"{what}: could not get a GCP access token: {exc}",
            hint="check the google-github-actions/auth step (workload identity provider, service account)",
        )
    if isinstance(exc, requests.RequestException):
        return ProviderError(f"{what}: cannot reach {endpoint}: {_short(exc)}", hint=NETWORK_HINT)
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, api_exceptions.Unauthenticated):
        return CredentialsError(f"{what}: {message}", hint="the access token is invalid or expired")
    if isinstance(exc, api_exceptions.PermissionDenied):
        return ProviderError(f"{what}: permission denied: {message}", hint=PERMISSION_HINT)
    if isinstance(exc, api_exceptions.Conflict):
        return ProviderError(
            f"{what}: {message}",
            hint="another deployment of this function is running or just ran; re-run this step",
        )
    code = getattr(exc, "code", None)
    return ProviderError(f"{what} failed: {int(code) if code else ''} {message}".replace("  ", " "))
