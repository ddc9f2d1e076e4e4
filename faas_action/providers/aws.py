"""AWS Lambda provider (botocore, the engine under boto3).

Owns: every Lambda and S3 call: reading the function into a Plan (config diff, code hash, guards),
and applying it: create or update, wait after each mutation, publish a version guarded by
CodeSha256 and RevisionId, move the alias, read the URL.
Must not: read os.environ, print workflow commands, validate user input (config.py did), or
sleep except through the injected clock.

botocore is used directly: boto3 adds nothing this module needs but s3transfer, whose import
alone costs about 70 ms on every run (the whole of a no-op deploy is ~0.3 s).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

import botocore.loaders
import botocore.session
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

from .. import render
from ..errors import CredentialsError, ProviderError, Problem
from ..models import Artifact, AwsOptions, Change, DeployResult, FunctionSpec, Plan, plain
from .base import Deadline, RunContext, backoff_delays

IGNORE_FILE: str | None = None
DEFAULT_IGNORES: tuple[str, ...] = ()

DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # ZipFile in the request: 69905067 bytes once base64-encoded
UNZIPPED_LIMIT = 262_144_000  # 250 MB, "Unzipped size must be smaller than 262144000 bytes"
S3_KEY_PREFIX = "faas-action"
RETRYABLE = {"ResourceConflictException", "TooManyRequestsException", "ThrottlingException", "Throttling"}


def check(spec: FunctionSpec, artifact: Artifact) -> list[Problem]:
    """Lambda's size limits, checked before any call."""
    options = _options(spec)
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


def connect(spec: FunctionSpec, ctx: RunContext) -> "LambdaProvider":
    """A provider with clients for the spec's region; fails early when no credentials exist."""
    options = _options(spec)
    session = botocore.session.get_session()
    session.register_component("data_loader", _DataLoader.like(botocore.loaders.create_loader(session.get_config_variable("data_path"))))
    try:
        credentials = session.get_credentials()
    except Exception as exc:  # a broken profile or credential process
        raise CredentialsError(f"AWS credentials could not be loaded: {exc}") from exc
    if credentials is None:
        raise CredentialsError(
            "no AWS credentials found",
            hint="add aws-actions/configure-aws-credentials (role-to-assume with OIDC) before this step, "
            "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )
    ctx.log.mask(credentials.secret_key or "")
    if credentials.token:
        ctx.log.mask(credentials.token)
    config = Config(
        retries={"mode": "adaptive", "total_max_attempts": 4},
        user_agent_extra="faas-action",
        connect_timeout=10,
        read_timeout=70,
    )
    def client(service: str):
        return session.create_client(service, region_name=options.region, config=config)

    return LambdaProvider(client("lambda"), lambda: client("s3"), ctx)


class _DataLoader(botocore.loaders.Loader):
    """botocore's model loader, without one scan. Before it loads a service's model botocore lists
    every service it knows, a listdir and a stat or two in each of ~440 folders (15-50 ms per
    model type, the most on a cold container), only to check that the name asked for is one of
    them. Here that check looks at the one folder; an unknown name still raises botocore's
    UnknownServiceError, whose message still lists every service."""

    @classmethod
    def like(cls, loader: botocore.loaders.Loader) -> "_DataLoader":
        """The same search paths (AWS_DATA_PATH, ~/.aws/models, botocore's data) in the same order."""
        return cls(extra_search_paths=loader.search_paths, include_default_search_paths=False)

    def list_available_services(self, type_name: str) -> "_ServiceNames":
        return _ServiceNames(self, type_name)


class _ServiceNames:
    """What botocore does with the list of services: `name in it`, and joining it for an error."""

    def __init__(self, loader: _DataLoader, type_name: str) -> None:
        self.loader = loader
        self.type_name = type_name

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(os.path.isdir(os.path.join(path, name)) for path in self.loader.search_paths)

    def __iter__(self):
        return iter(botocore.loaders.Loader.list_available_services(self.loader, self.type_name))


def _options(spec: FunctionSpec) -> AwsOptions:
    assert isinstance(spec.options, AwsOptions)
    return spec.options


@dataclass(frozen=True)
class LambdaState:
    """What plan() read and apply() relies on: guards and the exact calls to make."""

    exists: bool
    function_arn: str = ""
    revision_id: str | None = None
    code_sha256: str | None = None
    create_params: Mapping[str, Any] = field(default_factory=dict)
    code_update: bool = False
    config_update: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    publish: bool = False
    reuse_version: str | None = None  # the published version serving this code when nothing changes
    alias: str | None = None
    alias_version: str | None = None
    alias_revision_id: str | None = None
    url: str = ""  # the alias's function URL, else the unqualified function's (read by plan)

    @property
    def alias_exists(self) -> bool:
        return self.alias_version is not None


class LambdaProvider:
    """plan() only reads (GetFunction, GetAlias, GetFunctionUrlConfig, and ListVersionsByFunction
    when nothing changed but the alias does not serve the code); apply() mutates."""

    def __init__(self, client, s3_factory: Callable[[], Any], ctx: RunContext) -> None:
        self.client = client
        self.s3_factory = s3_factory
        self.ctx = ctx
        self.log = ctx.log

    # -- plan ---------------------------------------------------------------------------------
    def plan(self, spec: FunctionSpec, artifact: Artifact) -> Plan:
        options = _options(spec)
        deadline = Deadline(self.ctx.clock, spec.wait_timeout_s, f"reading Lambda function {spec.name}")
        # Every read the plan may need, in one round trip: the function, the alias, the version
        # it serves, and the function URLs the outputs report (apply() never changes a URL).
        qualifiers = ([options.alias] if options.alias else []) + [None]
        with ThreadPoolExecutor(max_workers=3 + len(qualifiers)) as pool:
            function = pool.submit(self._get_function, spec.name)
            alias = pool.submit(self._alias, spec.name, options.alias)
            served = pool.submit(self._served_configuration, spec.name, options.alias)
            urls = [pool.submit(self._url_of, spec.name, qualifier, deadline) for qualifier in qualifiers]
            current = function.result()
            alias_version, alias_revision = alias.result()
            served_config = served.result()
            url = next((u for u in (lookup.result() for lookup in urls) if u), "")
        if current is None:
            return self._plan_create(spec, options, artifact)
        config = current["Configuration"]
        if config.get("LastUpdateStatus") == "InProgress" or config.get("State") == "Pending":
            # Someone else's update is running: read the function once it settles, so the diff
            # and the RevisionId guard describe what apply() will really change.
            self.log.info(f"{spec.name} has an update in progress; waiting for it before planning")
            deadline = Deadline(self.ctx.clock, spec.wait_timeout_s, f"waiting for the update in progress on {spec.name}")
            current = self._wait(deadline, spec.name)
            config = current["Configuration"]
        if config.get("PackageType", "Zip") != "Zip":
            raise ProviderError(
                f"{spec.name} is a container-image function; a zip cannot replace an image in place",
                hint="deploy the image with its own tooling, or create a new zip function",
            )
        changes, config_update = _config_diff(spec, options, config)
        code_update = config.get("CodeSha256") != artifact.sha256
        current_arch = tuple(config.get("Architectures") or ("x86_64",))
        if options.architectures and tuple(options.architectures) != current_arch:
            # Lambda changes the architecture only together with the code.
            code_update = True
            changes.append(Change("architectures", list(current_arch), list(options.architectures)))
        wheels_for = "arm64" if artifact.dependencies_platform.startswith("aarch64-") else "x86_64"
        if artifact.dependencies_platform and not options.architectures and current_arch != (wheels_for,):
            raise ProviderError(
                f"{spec.name} runs on {current_arch[0]}, but its dependencies were installed for {wheels_for} "
                "(`architectures` not given: x86_64 is assumed)",
                hint=f"set `architectures: {current_arch[0]}`",
            )
        current_tags = dict(current.get("Tags") or {})
        new_tags = {k: v for k, v in (options.tags or {}).items() if current_tags.get(k) != v}
        if new_tags:
            changes.append(Change("tags", {k: current_tags.get(k) for k in new_tags}, new_tags))

        function_changed = code_update or bool(config_update) or bool(new_tags)
        reuse_version = None
        if options.publish and not function_changed:
            if served_config is not None and _serves(served_config, config):
                reuse_version = served_config["Version"]  # the alias already serves this code and configuration
            else:
                reuse_version = self._published_version_with(spec.name, config)
        publish = options.publish and (function_changed or reuse_version is None)
        target = None if publish else reuse_version
        alias_moves = bool(options.alias) and (publish or alias_version != target)
        if alias_moves and not publish:
            changes.append(Change(f"alias {options.alias}", alias_version, target))

        action = "update" if (function_changed or publish or alias_moves) else "none"
        steps = []
        if code_update:
            steps.append("update code" + (" via S3" if artifact.size > DIRECT_UPLOAD_LIMIT else ""))
        if config_update:
            steps.append("update configuration: " + ", ".join(sorted(config_update)))
        if new_tags:
            steps.append("tag: " + ", ".join(sorted(new_tags)))
        if publish:
            steps.append("publish a new version")
        if alias_moves:
            steps.append(f"{'move' if alias_version is not None else 'create'} alias {options.alias}")
        if action == "none":
            steps.append(f"nothing to do: version {reuse_version or '$LATEST'} already serves this code")
        state = LambdaState(
            exists=True,
            function_arn=_unqualified(config["FunctionArn"]),
            revision_id=config.get("RevisionId"),
            code_sha256=config.get("CodeSha256"),
            code_update=code_update,
            config_update=MappingProxyType(config_update),
            tags=MappingProxyType(new_tags),
            publish=publish,
            reuse_version=reuse_version,
            alias=options.alias,
            alias_version=alias_version,
            alias_revision_id=alias_revision,
            url=url,
        )
        return Plan(
            provider="aws",
            function=spec.name,
            action=action,
            changes=tuple(changes),
            code_sha256_old=config.get("CodeSha256"),
            code_sha256_new=artifact.sha256,
            steps=tuple(steps),
            publish=publish,
            alias=options.alias,
            state=state,
        )

    def _plan_create(self, spec: FunctionSpec, options: AwsOptions, artifact: Artifact) -> Plan:
        missing = [name for name, value in (("role", options.role), ("runtime", options.runtime)) if not value]
        if not options.handler and not (options.runtime or "").startswith("provided"):
            missing.append("handler")
        if missing:
            raise ProviderError(
                f"function {spec.name} does not exist in {options.region}; creating it needs "
                + ", ".join(f"`{m}`" for m in missing),
                hint="set those inputs, or check function-name and region",
            )
        params: dict[str, Any] = {"FunctionName": spec.name, "Role": options.role, "Runtime": options.runtime, "PackageType": "Zip"}
        if options.handler:
            params["Handler"] = options.handler
        params.update(_settable(spec, options, current_env=None))
        if options.architectures:
            params["Architectures"] = list(options.architectures)
        if options.tags:
            params["Tags"] = dict(options.tags)
        changes = [
            Change(key, None, plain(value))
            for key, value in sorted(params.items())
            if key not in ("FunctionName", "Environment")
        ]
        if spec.environment is not None:
            # Name the variables, never their values: a masked value in the plan output would
            # make the runner drop the whole output.
            changes.append(Change("environment", None, {"changed keys": sorted(spec.environment)}))
        steps = ["create the function" + (" (code via S3)" if artifact.size > DIRECT_UPLOAD_LIMIT else "")]
        if options.publish:
            steps.append("publish version 1")
        if options.alias:
            steps.append(f"create alias {options.alias}")
        return Plan(
            provider="aws",
            function=spec.name,
            action="create",
            changes=tuple(changes),
            code_sha256_old=None,
            code_sha256_new=artifact.sha256,
            steps=tuple(steps),
            publish=options.publish,
            alias=options.alias,
            state=LambdaState(exists=False, create_params=MappingProxyType(params), publish=options.publish, alias=options.alias),
        )

    def _get_function(self, name: str, qualifier: str | None = None) -> dict | None:
        """GetFunction, of a version or alias with `qualifier`; None when there is no such thing."""
        try:
            return self.client.get_function(FunctionName=name, **({"Qualifier": qualifier} if qualifier else {}))
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise _provider_error(exc, f"reading function {name}" + (f":{qualifier}" if qualifier else "")) from exc

    def _published_version_with(self, name: str, latest: Mapping[str, Any]) -> str | None:
        """The highest published version that serves $LATEST's code and configuration (a no-op
        redeploy reports it instead of publishing a duplicate)."""
        best = None
        paginator = self.client.get_paginator("list_versions_by_function")
        try:
            for page in paginator.paginate(FunctionName=name):
                for version in page.get("Versions", []):
                    if _serves(version, latest) and (best is None or int(version["Version"]) > int(best)):
                        best = version["Version"]
        except ClientError as exc:
            raise _provider_error(exc, f"listing versions of {name}") from exc
        return best

    def _served_configuration(self, name: str, alias: str | None) -> dict | None:
        """The configuration of the version the alias points to; None without such an alias.
        (GetFunction rather than GetFunctionConfiguration: the same IAM action as every other read.)"""
        found = self._get_function(name, alias) if alias else None
        return found["Configuration"] if found else None

    def _alias(self, name: str, alias: str | None) -> tuple[str | None, str | None]:
        """The alias's version and RevisionId; (None, None) when there is no such alias."""
        if not alias:
            return None, None
        try:
            found = self.client.get_alias(FunctionName=name, Name=alias)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None, None
            raise _provider_error(exc, f"reading alias {alias}") from exc
        return found["FunctionVersion"], found.get("RevisionId")

    # -- apply --------------------------------------------------------------------------------
    def apply(self, plan: Plan, spec: FunctionSpec, artifact: Artifact) -> DeployResult:
        state: LambdaState = plan.state
        options = _options(spec)
        deadline = Deadline(self.ctx.clock, spec.wait_timeout_s, f"deploying Lambda function {spec.name}")
        if plan.action == "none":
            version = state.reuse_version or "$LATEST"
            return self._result(spec, state, state.function_arn, version, changed=False)

        code_sha = state.code_sha256
        if not state.exists:
            params = dict(state.create_params)
            params["Code"] = self._code_source(spec, options, artifact, deadline)
            self.log.info(f"Creating {spec.name}")
            reply = self._call(deadline, self.client.create_function, **params)
            function_arn = _unqualified(reply["FunctionArn"])
            revision = reply.get("RevisionId")
            code_sha = reply.get("CodeSha256", artifact.sha256)
            revision = _revision(self._wait(deadline, spec.name)) or revision
        else:
            function_arn = state.function_arn
            revision = state.revision_id
            if state.code_update:
                self.log.info(f"Updating code of {spec.name}")
                params = {"FunctionName": spec.name, "Publish": False, **self._code_source(spec, options, artifact, deadline)}
                if options.architectures:
                    params["Architectures"] = list(options.architectures)
                reply = self._call(deadline, self.client.update_function_code, **_with_revision(params, revision))
                code_sha = reply.get("CodeSha256", artifact.sha256)
                revision = _revision(self._wait(deadline, spec.name)) or reply.get("RevisionId")
            if state.config_update:
                self.log.info(f"Updating configuration of {spec.name}: {', '.join(sorted(state.config_update))}")
                params = {"FunctionName": spec.name, **state.config_update}
                reply = self._call(deadline, self.client.update_function_configuration, **_with_revision(params, revision))
                revision = _revision(self._wait(deadline, spec.name)) or reply.get("RevisionId")
            if state.tags:
                self._call(deadline, self.client.tag_resource, Resource=function_arn, Tags=dict(state.tags))
        if code_sha and code_sha != artifact.sha256:
            raise ProviderError(
                f"Lambda reports CodeSha256 {code_sha} for {spec.name}, but the package is {artifact.sha256}",
                hint="the upload was altered on the way; nothing was published",
            )

        version = "$LATEST"
        if state.publish:
            version = self._publish(spec, deadline, artifact.sha256, revision)
        elif state.reuse_version:
            version = state.reuse_version
        if state.alias:
            self._point_alias(spec.name, state, version, deadline)
        return self._result(spec, state, function_arn, version, changed=True)

    def _code_source(self, spec: FunctionSpec, options: AwsOptions, artifact: Artifact, deadline: Deadline) -> dict[str, Any]:
        """The request's code: the zip's bytes, or its content-addressed S3 object (uploaded once)."""
        if artifact.size <= DIRECT_UPLOAD_LIMIT:
            return {"ZipFile": artifact.path.read_bytes()}
        bucket = options.s3_bucket
        key = f"{S3_KEY_PREFIX}/{spec.name}/{artifact.sha256_hex}.zip"
        s3 = self.s3_factory()
        try:
            s3.head_object(Bucket=bucket, Key=key)
            self.log.info(f"s3://{bucket}/{key} already holds this package; not uploading it again")
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchKey", "NotFound"):
                raise _provider_error(exc, f"checking s3://{bucket}/{key}") from exc
            self.log.info(f"Uploading {artifact.size} bytes to s3://{bucket}/{key}")
            try:
                with open(artifact.path, "rb") as body:
                    self._call(deadline, s3.put_object, Bucket=bucket, Key=key, Body=body, ContentType="application/zip")
            except ProviderError as upload_error:
                raise ProviderError(f"upload to s3://{bucket}/{key} failed: {upload_error}") from upload_error
        return {"S3Bucket": bucket, "S3Key": key}

    def _publish(self, spec: FunctionSpec, deadline: Deadline, sha256: str, revision: str | None) -> str:
        github = spec.github
        description = " ".join(filter(None, [
            f"sha {github.sha}" if github.sha else "",
            f"ref {github.ref}" if github.ref else "",
            github.run_url,
        ]))[:256] or "published by faas-action"
        params = _with_revision({"FunctionName": spec.name, "CodeSha256": sha256, "Description": description}, revision)
        try:
            reply = self._call(deadline, self.client.publish_version, **params)
        except ProviderError as exc:
            if _cause_code(exc) in (
                "PreconditionFailedException", "InvalidParameterValueException"
            ):
                raise ProviderError(
                    f"refused to publish {spec.name}: the function changed after this run updated it "
                    f"({exc.__cause__.response['Error'].get('Message', '')})",
                    hint="another deploy ran at the same time; nothing was published, re-run when it is done",
                ) from exc.__cause__
            raise
        version = reply["Version"]
        self.log.info(f"Published version {version}")
        self._wait(deadline, f"{spec.name}:{version}", waiters=("published_version_active",))
        return version

    def _point_alias(self, name: str, state: LambdaState, version: str, deadline: Deadline) -> None:
        if state.alias_exists:
            if state.alias_version == version:
                return
            params = _with_revision({"FunctionName": name, "Name": state.alias, "FunctionVersion": version}, state.alias_revision_id)
            self.log.info(f"Moving alias {state.alias}: {state.alias_version} -> {version}")
            self._call(deadline, self.client.update_alias, **params)
            return
        self.log.info(f"Creating alias {state.alias} -> {version}")
        try:
            self._call(deadline, self.client.create_alias, FunctionName=name, Name=state.alias, FunctionVersion=version, retry_conflicts=False)
        except ProviderError as exc:
            # Created by someone else since plan(): move it instead (its version is not ours to keep).
            if _cause_code(exc) == "ResourceConflictException":
                self._call(deadline, self.client.update_alias, FunctionName=name, Name=state.alias, FunctionVersion=version)
            else:
                raise

    def _result(self, spec: FunctionSpec, state: LambdaState, function_arn: str, version: str, changed: bool) -> DeployResult:
        options = _options(spec)
        alias_arn = f"{function_arn}:{options.alias}" if options.alias else ""
        qualified = f"{function_arn}:{version}" if version and version != "$LATEST" else ""
        return DeployResult(
            function_id=function_arn,
            changed=changed,
            version=version,
            url=state.url,
            outputs={
                "function-arn": function_arn,
                "version-id": qualified,
                "alias-id": alias_arn,
            },
        )

    def _url_of(self, name: str, qualifier: str | None, deadline: Deadline) -> str:
        """The function URL of the alias `qualifier`, or of the unqualified function; '' if none."""
        params = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
        try:
            return self._call(deadline, self.client.get_function_url_config, **params)["FunctionUrl"]
        except ProviderError as exc:
            if _cause_code(exc) == "ResourceNotFoundException":
                return ""
            raise

    # -- bounded calls and waits --------------------------------------------------------------
    def _call(self, deadline: Deadline, method: Callable[..., dict], retry_conflicts: bool = True, **params: Any) -> dict:
        """Call `method`, retrying 'update in progress' conflicts and throttling until the deadline."""
        delays = backoff_delays(base=1.0, cap=15.0)
        while True:
            try:
                return method(**params)
            except ClientError as exc:
                code = _code(exc)
                if code in RETRYABLE and (retry_conflicts or code != "ResourceConflictException"):
                    delay = _retry_after(exc) or next(delays)
                    self.log.info(f"{method.__name__}: {code}, retrying in {delay:.1f} s")
                    deadline.sleep(delay, detail=f"{code}: {exc.response['Error'].get('Message', '')}")
                    continue
                raise _provider_error(exc, method.__name__) from exc

    def _wait(
        self,
        deadline: Deadline,
        name: str,
        waiters: tuple[str, ...] = ("function_active_v2", "function_updated_v2"),
    ) -> dict:
        """Poll until every named boto3 waiter's success acceptor matches the same response.

        The acceptors (Active / Successful succeed, Failed fails) come from boto3's waiter
        models; the loop is ours so that the deadline and the clock are. One GetFunction per
        poll answers both State and LastUpdateStatus. Returns the last response."""
        response: dict = {}
        models = [self.client.get_waiter(name).config for name in waiters]
        operation = getattr(self.client, xform_name(models[0].operation))
        assert all(m.operation == models[0].operation for m in models), "waiters must share their poll"
        while True:
            try:
                response = operation(FunctionName=name)
            except ClientError as exc:
                if _code(exc) not in RETRYABLE:
                    raise _provider_error(exc, f"waiting for {name}") from exc
                response = {}
            outcomes = [next((a.state for a in m.acceptors if a.matcher_func(response)), "retry") for m in models]
            config = response.get("Configuration", response)
            status = f"State={config.get('State')}, LastUpdateStatus={config.get('LastUpdateStatus')}"
            if "failure" in outcomes:
                reason = config.get("LastUpdateStatusReason") or config.get("StateReason") or "no reason given"
                raise ProviderError(f"Lambda update of {name} failed ({status}): {reason}")
            if all(outcome == "success" for outcome in outcomes):
                break
            self.log.info(f"Waiting for {name}: {status}")
            deadline.sleep(max(m.delay for m in models), detail=status)
        return response


# -- pure helpers -------------------------------------------------------------------------------


def _settable(spec: FunctionSpec, options: AwsOptions, current_env: Mapping[str, str] | None) -> dict[str, Any]:
    """The configuration fields the user gave, in Lambda's request shape (never a default)."""
    params: dict[str, Any] = {}
    if options.memory_mb is not None:
        params["MemorySize"] = options.memory_mb
    if options.timeout_s is not None:
        params["Timeout"] = options.timeout_s
    if options.description is not None:
        params["Description"] = options.description
    if options.layers is not None:
        params["Layers"] = list(options.layers)
    if options.subnet_ids is not None:
        params["VpcConfig"] = {"SubnetIds": list(options.subnet_ids), "SecurityGroupIds": list(options.security_group_ids or ())}
    if options.tracing is not None:
        params["TracingConfig"] = {"Mode": options.tracing}
    if spec.environment is not None:
        variables = dict(spec.environment)
        if spec.environment_mode == "merge" and current_env:
            variables = {**current_env, **variables}
        params["Environment"] = {"Variables": variables}
    return params


def _config_diff(spec: FunctionSpec, options: AwsOptions, config: Mapping[str, Any]) -> tuple[list[Change], dict[str, Any]]:
    """Fields whose wanted value differs from the deployed one, and the update call's parameters."""
    current_env = (config.get("Environment") or {}).get("Variables") or {}
    wanted = _settable(spec, options, current_env)
    for key, value in (("Role", options.role), ("Handler", options.handler), ("Runtime", options.runtime)):
        if value is not None:
            wanted[key] = value
    current = {
        "Role": config.get("Role"),
        "Handler": config.get("Handler"),
        "Runtime": config.get("Runtime"),
        "MemorySize": config.get("MemorySize"),
        "Timeout": config.get("Timeout"),
        "Description": config.get("Description", ""),
        "Layers": [layer["Arn"] for layer in config.get("Layers") or []],
        "VpcConfig": {
            "SubnetIds": sorted((config.get("VpcConfig") or {}).get("SubnetIds") or []),
            "SecurityGroupIds": sorted((config.get("VpcConfig") or {}).get("SecurityGroupIds") or []),
        },
        "TracingConfig": {"Mode": (config.get("TracingConfig") or {}).get("Mode", "PassThrough")},
        "Environment": {"Variables": dict(current_env)},
    }
    changes: list[Change] = []
    update: dict[str, Any] = {}
    for key, value in wanted.items():
        comparable = value
        if key == "VpcConfig":
            comparable = {k: sorted(v) for k, v in value.items()}
        if current.get(key) != comparable:
            update[key] = value
            if key == "Environment":
                # Show which variables change, never their values.
                old_vars, new_vars = current_env, value["Variables"]
                changed_keys = sorted(k for k in set(old_vars) | set(new_vars) if old_vars.get(k) != new_vars.get(k))
                changes.append(Change("environment", None, {"changed keys": changed_keys}))
            else:
                changes.append(Change(key, current.get(key), comparable))
    return changes, update


def _serves(version: Mapping[str, Any], latest: Mapping[str, Any]) -> bool:
    """Does this published version serve $LATEST's code and configuration? A version with the
    same code but an older configuration (changed since, in the console say) does not."""
    number = version.get("Version", "")
    return number.isdigit() and version.get("CodeSha256") == latest.get("CodeSha256") and _snapshot(version) == _snapshot(latest)


def _snapshot(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration a published version freezes, with Lambda's defaults filled in so that
    an omitted field and its default compare equal."""
    vpc = config.get("VpcConfig") or {}
    return {
        "Runtime": config.get("Runtime"),
        "Role": config.get("Role"),
        "Handler": config.get("Handler"),
        "Timeout": config.get("Timeout") or 3,
        "MemorySize": config.get("MemorySize") or 128,
        "Environment": (config.get("Environment") or {}).get("Variables") or {},
        "Layers": [layer.get("Arn") for layer in config.get("Layers") or []],
        "VpcConfig": (sorted(vpc.get("SubnetIds") or []), sorted(vpc.get("SecurityGroupIds") or [])),
        "TracingConfig": (config.get("TracingConfig") or {}).get("Mode") or "PassThrough",
        "Architectures": tuple(config.get("Architectures") or ("x86_64",)),
        "EphemeralStorage": (config.get("EphemeralStorage") or {}).get("Size") or 512,
        "KMSKeyArn": config.get("KMSKeyArn") or None,
    }


def _revision(response: Mapping[str, Any]) -> str | None:
    return response.get("Configuration", response).get("RevisionId")


def _with_revision(params: dict[str, Any], revision: str | None) -> dict[str, Any]:
    """Add RevisionId where the service gave one (moto gives none)."""
    return {**params, "RevisionId": revision} if revision else params


def _unqualified(arn: str) -> str:
    """`arn:aws:lambda:r:a:function:name[:qualifier]` → without the qualifier."""
    parts = arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 else arn


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _cause_code(error: ProviderError) -> str:
    """The AWS error code behind a ProviderError raised by _call, or ''."""
    return _code(error.__cause__) if isinstance(error.__cause__, ClientError) else ""


def _retry_after(exc: ClientError) -> float | None:
    value = exc.response.get("retryAfterSeconds") or exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
    try:
        return float(value) if value else None
    except (TypeError, ValueError):
        return None


def _provider_error(exc: ClientError, doing: str) -> ProviderError:
    code = _code(exc)
    message = exc.response.get("Error", {}).get("Message", str(exc))
    hints = {
        "AccessDeniedException": "the role needs the permissions listed in the README (IAM policy)",
        "AccessDenied": "the role needs the permissions listed in the README (IAM policy)",
        "ResourceConflictException": "another update kept the function busy until wait-timeout",
        "TooManyRequestsException": "Lambda's control-plane quota throttled every retry until wait-timeout",
        "CodeStorageExceededException": "the region's 75 GB code storage is full: delete old versions",
        "PreconditionFailedException": "the function changed since this run read it",
        "InvalidParameterValueException": "",
        "UnrecognizedClientException": "the credentials are not valid for this account",
        "ExpiredTokenException": "the credentials expired: configure-aws-credentials sessions last 1 h by default",
    }
    return ProviderError(f"{doing} failed: {code}: {message}", hint=hints.get(code, ""))


__all__ = ["IGNORE_FILE", "DEFAULT_IGNORES", "check", "connect", "LambdaProvider", "LambdaState"]
