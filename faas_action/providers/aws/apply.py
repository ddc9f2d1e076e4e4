"""Applying a Lambda Plan: the only code that changes a function.

Owns: create or update (code through the request, a content-addressed S3 object or an ECR image),
a wait after every mutation, reserved concurrency, the publish guarded by CodeSha256 and
RevisionId, moving the alias, then the function URL and the alias's provisioned concurrency
(waited for until READY) (url.py, concurrency.py carry those out).
A mutation retried after its reply was lost (the service acted, the network failed) meets its
own effect: a CreateFunction answers 'already exists', an UpdateFunctionCode a stale RevisionId,
a CreateAlias 'alias exists', an UpdateAlias a stale alias RevisionId (alias.py), a function URL
or a permission 'exists', a delete 'not found' (url.py, concurrency.py). Each is told apart from
a real conflict by reading what is there. (A PublishVersion retried so gets the version its
first attempt published: Lambda publishes nothing new when nothing changed since.)
Must not: decide what to change (the Plan did) or call AWS except through LambdaCalls.
"""

from __future__ import annotations

from typing import Any, Callable

from ...errors import ProviderError
from ...models import Artifact, AwsOptions, DeployResult, FunctionSpec, Plan
from ..base import Deadline
from . import configuration
from .alias import create_alias, update_alias
from .client import CONFLICT, LambdaCalls, cause_code, revision_of, unqualified, with_revision
from .concurrency import apply_provisioned, apply_reserved
from .limits import DIRECT_UPLOAD_LIMIT, options_of
from .plan import LambdaState
from .url import PUBLIC_WARNING, apply_url

S3_KEY_PREFIX = "faas-action"


class Applier:
    """Carries out one Plan with the clients it needs."""

    def __init__(self, calls: LambdaCalls, s3_factory: Callable[[], Any]) -> None:
        self.calls = calls
        self.client = calls.client
        self.s3_factory = s3_factory
        self.log = calls.log

    def apply(self, plan: Plan, spec: FunctionSpec, artifact: Artifact | None) -> DeployResult:
        """Carry out the plan; `artifact` is None for a container-image function and in rollback
        mode. With a release (spec.release), the alias is left to the release step, and so are
        the function URL and the provisioned concurrency of the alias (after_release)."""
        state: LambdaState = plan.state
        options = options_of(spec)
        deadline = Deadline(self.calls.clock, spec.wait_timeout_s, f"deploying Lambda function {spec.name}")
        if state.rollback_target is not None:
            # Rollback mode: no code, no configuration; the release step moves the alias.
            return result_of(spec, state, state.function_arn, state.rollback_target, changed=plan.changed, code_sha=None)
        if plan.action == "none":
            version = state.reuse_version or "$LATEST"
            return result_of(spec, state, state.function_arn, version, changed=False, code_sha=state.code_sha256)

        call, wait = self.calls.call, self.calls.wait
        code_sha = state.code_sha256
        if not state.exists:
            params = dict(state.create_params)
            params["Code"] = self._code_source(spec, options, artifact, deadline)
            self.log.info(f"Creating {spec.name}")
            reply = self._create(spec, params, state.expected_sha256, deadline)
            function_arn = unqualified(reply["FunctionArn"])
            revision = reply.get("RevisionId")
            code_sha = reply.get("CodeSha256") or state.expected_sha256
            revision = revision_of(wait(deadline, spec.name)) or revision
        else:
            function_arn = state.function_arn
            revision = state.revision_id
            if state.code_update:
                self.log.info(f"Updating code of {spec.name}")
                params = {"FunctionName": spec.name, "Publish": False, **self._code_source(spec, options, artifact, deadline)}
                if options.architectures:
                    params["Architectures"] = list(options.architectures)
                reply = self._update_code(spec, with_revision(params, revision), state.expected_sha256, deadline)
                code_sha = reply.get("CodeSha256") or state.expected_sha256
                revision = revision_of(wait(deadline, spec.name)) or reply.get("RevisionId")
            if state.config_update:
                self.log.info(f"Updating configuration of {spec.name}: {', '.join(sorted(state.config_update))}")
                params = {"FunctionName": spec.name, **state.config_update}
                reply = self._update_configuration(spec, options, with_revision(params, revision), deadline)
                revision = revision_of(wait(deadline, spec.name)) or reply.get("RevisionId")
            if state.tags:
                call(deadline, self.client.tag_resource, Resource=function_arn, Tags=dict(state.tags))
        self._check_code(spec, options, code_sha, state.expected_sha256)
        apply_reserved(self.calls, spec.name, state.concurrency, deadline)

        version = "$LATEST"
        if state.publish:
            version = self._publish(spec, deadline, code_sha, revision)
        elif state.reuse_version:
            version = state.reuse_version
        if state.alias and state.alias_by_release:
            return result_of(spec, state, function_arn, version, changed=True, code_sha=code_sha)
        alias_moved = bool(state.alias) and self._point_alias(spec.name, state, version, deadline)
        return self._after_alias(spec, state, result_of(spec, state, function_arn, version, changed=True, code_sha=code_sha), alias_moved)

    def after_release(self, plan: Plan, spec: FunctionSpec, result: DeployResult, alias_moved: bool) -> DeployResult:
        """What follows the alias once the release step moved it: the function URL, then the
        alias's provisioned concurrency (waited for until READY)."""
        state: LambdaState = plan.state
        if not (state.alias and state.alias_by_release) or plan.action == "none":
            return result
        return self._after_alias(spec, state, result, alias_moved)

    def _after_alias(self, spec: FunctionSpec, state: LambdaState, result: DeployResult, alias_moved: bool) -> DeployResult:
        deadline = Deadline(self.calls.clock, spec.wait_timeout_s, f"deploying Lambda function {spec.name}")
        url = state.url
        if state.url_plan is not None:
            url = apply_url(self.calls, spec.name, state.url_plan, deadline)
        if state.alias:  # last: the one wait that can take minutes
            apply_provisioned(self.calls, spec.name, state.alias, state.concurrency, alias_moved, spec.wait_timeout_s)
        if url == result.url:
            return result
        return result_of(spec, state, result.function_id, result.version, changed=result.changed,
                         code_sha=result.outputs.get("code-sha256") or None, url=url)

    def _check_code(self, spec: FunctionSpec, options: AwsOptions, code_sha: str | None, expected: str | None) -> None:
        """The code Lambda holds now is the code this run meant to deploy."""
        if not code_sha or not expected or code_sha == expected:
            return
        if options.is_image:
            # The tag moved between plan and apply: Lambda took what the tag names now.
            self.log.warning(f"{options.image_uri} resolved to {code_sha}, not {expected} as planned: the tag was pushed again meanwhile")
            return
        raise ProviderError(
            f"Lambda reports CodeSha256 {code_sha} for {spec.name}, but the package is {expected}",
            hint="the upload was altered on the way; nothing was published",
        )

    def _create(self, spec: FunctionSpec, params: dict[str, Any], expected: str | None, deadline: Deadline) -> dict:
        """CreateFunction; 'already exists' with this run's code is this run's own function."""
        try:
            return self._mutate(
                deadline, spec.name, self.client.create_function, params, refusal=CONFLICT,
                landed=lambda config: expected is not None and config.get("CodeSha256") == expected,
            )
        except ProviderError as exc:
            if cause_code(exc) != CONFLICT:
                raise
            raise ProviderError(
                f"function {spec.name} already exists: it was created after this run's plan, with other code; nothing was changed",
                hint="another deploy created it at the same time: re-run to plan against it, or choose another function-name",
            ) from exc

    def _update_code(self, spec: FunctionSpec, params: dict[str, Any], expected: str | None, deadline: Deadline) -> dict:
        """UpdateFunctionCode guarded by RevisionId; a stale RevisionId with this run's code in
        $LATEST is this run's own update (with other code, the guard's refusal stands)."""
        return self._mutate(
            deadline, spec.name, self.client.update_function_code, params, refusal="PreconditionFailedException",
            landed=lambda config: expected is not None and config.get("CodeSha256") == expected,
        )

    def _update_configuration(self, spec: FunctionSpec, options: AwsOptions, params: dict[str, Any], deadline: Deadline) -> dict:
        """UpdateFunctionConfiguration guarded by RevisionId; a stale RevisionId with every setting
        this run asked for in $LATEST is this run's own update."""
        return self._mutate(
            deadline, spec.name, self.client.update_function_configuration, params, refusal="PreconditionFailedException",
            landed=lambda config: not configuration.diff(spec, options, config)[1],
        )

    def _mutate(
        self, deadline: Deadline, name: str, method: Callable[..., dict], params: dict[str, Any], *,
        refusal: str, landed: Callable[[dict], bool],
    ) -> dict:
        """Call a mutation of function `name`. A retry whose earlier attempt took effect, its reply
        lost, is refused with `refusal` ('already exists', a stale RevisionId). Then read the
        function: if `landed` finds it as this mutation makes it, carry on from that configuration;
        if not, the refusal was real and is raised."""
        try:
            return self.calls.call(deadline, method, retry_conflicts=refusal != CONFLICT, **params)
        except ProviderError as exc:
            if cause_code(exc) != refusal:
                raise
            refused = exc
        found = self.calls.get_function(name, deadline=deadline)
        if found is None or not landed(found["Configuration"]):
            raise refused
        self.log.info(f"{name}: {method.__name__} took effect on an earlier attempt whose reply was lost; carrying on")
        return found["Configuration"]

    def _code_source(self, spec: FunctionSpec, options: AwsOptions, artifact: Artifact | None, deadline: Deadline) -> dict[str, Any]:
        """The request's code: the image, the zip's bytes, or its content-addressed S3 object (uploaded once)."""
        if options.image_uri:
            return {"ImageUri": options.image_uri}
        assert artifact is not None
        if artifact.size <= DIRECT_UPLOAD_LIMIT:
            return {"ZipFile": artifact.path.read_bytes()}
        bucket = options.s3_bucket
        key = f"{S3_KEY_PREFIX}/{spec.name}/{artifact.sha256_hex}.zip"
        s3 = self.calls.adopt(self.s3_factory())
        try:
            self.calls.run(deadline, f"checking s3://{bucket}/{key}", lambda: s3.head_object(Bucket=bucket, Key=key))
            self.log.info(f"s3://{bucket}/{key} already holds this package; not uploading it again")
        except ProviderError as exc:
            if cause_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                raise

            def upload() -> dict:  # each attempt sends the file from its start
                with open(artifact.path, "rb") as body:
                    return s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/zip")

            self.log.info(f"Uploading {artifact.size} bytes to s3://{bucket}/{key}")
            self.calls.run(deadline, f"upload to s3://{bucket}/{key}", upload)
        return {"S3Bucket": bucket, "S3Key": key}

    def _publish(self, spec: FunctionSpec, deadline: Deadline, sha256: str | None, revision: str | None) -> str:
        github = spec.github
        description = " ".join(filter(None, [
            f"sha {github.sha}" if github.sha else "",
            f"ref {github.ref}" if github.ref else "",
            github.run_url,
        ]))[:256] or "published by faas-action"
        params = with_revision({"FunctionName": spec.name, "Description": description, **({"CodeSha256": sha256} if sha256 else {})}, revision)
        try:
            reply = self.calls.call(deadline, self.client.publish_version, **params)
        except ProviderError as exc:
            if cause_code(exc) in ("PreconditionFailedException", "InvalidParameterValueException"):
                raise ProviderError(
                    f"refused to publish {spec.name}: the function changed after this run updated it "
                    f"({exc.__cause__.response['Error'].get('Message', '')})",
                    hint="another deploy ran at the same time; nothing was published, re-run when it is done",
                ) from exc.__cause__
            raise
        version = reply["Version"]
        self.log.info(f"Published version {version}")
        self.calls.wait(deadline, f"{spec.name}:{version}", waiters=("published_version_active",))
        return version

    def _point_alias(self, name: str, state: LambdaState, version: str, deadline: Deadline) -> bool:
        """Create the alias or move it to `version`; True when it moved (or was created)."""
        if state.alias_exists:
            if state.alias_version == version:
                return False
            self._move_alias(name, state.alias, state.alias_version, version, state.alias_revision_id, deadline)
            return True
        self.log.info(f"Creating alias {state.alias} -> {version}")
        existing, created = create_alias(self.calls, deadline, name, state.alias, version)
        if created:
            return True
        if existing["FunctionVersion"] == version:  # our own CreateAlias, whose reply was lost
            self.log.info(f"Alias {state.alias} already points to {version}")
            return True
        # Created by someone else since plan(): move it (its version is not ours to keep).
        self._move_alias(name, state.alias, existing["FunctionVersion"], version, existing.get("RevisionId"), deadline)
        return True

    def _move_alias(self, name: str, alias: str, current: str | None, version: str, revision: str | None, deadline: Deadline) -> None:
        self.log.info(f"Moving alias {alias}: {current} -> {version}")
        # All of the traffic: routing weights left by an earlier release are cleared.
        update_alias(self.calls, deadline, name, alias, version, revision, weights={})


def result_of(
    spec: FunctionSpec, state: LambdaState, function_arn: str, version: str, changed: bool,
    code_sha: str | None, url: str | None = None,
) -> DeployResult:
    options = options_of(spec)
    alias_arn = f"{function_arn}:{options.alias}" if options.alias else ""
    qualified = f"{function_arn}:{version}" if version and version != "$LATEST" else ""
    url = state.url if url is None else url
    outputs = {"function-arn": function_arn, "version-id": qualified, "alias-id": alias_arn}
    if options.is_image:
        # Nothing was packaged: the code is the image, and its hash is the digest Lambda reports.
        outputs.update({"code-sha256": code_sha or "", "package-size": ""})
    summary = ""
    if options.function_url == "public" and url:
        summary = f"> [!WARNING]\n> `{spec.name}`: the function URL {url} is public: {PUBLIC_WARNING}.\n"
    return DeployResult(function_id=function_arn, changed=changed, version=version, url=url, outputs=outputs, summary=summary)
