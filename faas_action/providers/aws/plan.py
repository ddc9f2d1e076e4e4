"""Reading a Lambda function into a Plan.

Owns: what the deploy would change (the configuration diff against the deployed values, the code
hash or image digest, tags, publish and alias, the function URL, reserved and provisioned
concurrency), the guards apply() relies on (RevisionId, CodeSha256), and the no-op rule (a
published version is reused only if it serves $LATEST's code and configuration); with a release,
the plan's words for it (rollout.plan_lines), the gates' checks (alarms exist, CloudWatch can be
read), and in rollback mode the version the alias goes back to.
Must not: change anything (only reads, through LambdaCalls, ECR's DescribeImages and CloudWatch).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from ...errors import ProviderError
from ...models import Artifact, AwsOptions, Change, FunctionSpec, Plan, plain
from ..base import Deadline
from . import configuration, rollout
from .client import LambdaCalls, unqualified
from .concurrency import ConcurrencyPlan, plan_concurrency
from .configuration import serves
from .image import ImageRef, digest_of
from .limits import DIRECT_UPLOAD_LIMIT, options_of
from .metrics import CloudWatch, dimensions
from .url import UrlPlan, plan_url
from .versions import rollback_target


@dataclass(frozen=True)
class LambdaState:
    """What plan() read and apply() relies on: guards and the exact calls to make."""

    exists: bool
    function_arn: str = ""
    revision_id: str | None = None
    code_sha256: str | None = None  # deployed
    expected_sha256: str | None = None  # the code's hash once uploaded (the zip's, or the image digest when known)
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
    url_plan: UrlPlan | None = None  # with `function-url`
    concurrency: ConcurrencyPlan = ConcurrencyPlan()
    # The release (spec.release set): the release step moves the alias, not apply().
    alias_by_release: bool = False
    alias_weights: Mapping[str, float] = field(default_factory=dict)
    alias_description: str | None = None
    timeout_s: int = 3
    rollback_target: str | None = None  # rollback mode: the version the alias goes back to
    target_code: Mapping[str, Any] = field(default_factory=dict)  # rollback mode: its CodeSha256, CodeSize

    @property
    def alias_exists(self) -> bool:
        return self.alias_version is not None


@dataclass(frozen=True)
class _Reads:
    """Everything plan() reads, in one round of parallel calls."""

    function: dict | None
    alias: dict  # GetAlias ({} when there is no such alias)
    served_config: dict | None
    url_configs: list[dict | None]  # the alias's (when set), then the function's
    policy: list[dict]
    provisioned: dict | None
    digest: str | None


def plan(
    calls: LambdaCalls, spec: FunctionSpec, artifact: Artifact | None, ecr_factory: Callable[[], Any],
    cloudwatch: CloudWatch | None = None,
) -> Plan:
    """Read the function (GetFunction, GetAlias, GetFunctionUrlConfig, GetPolicy and
    GetProvisionedConcurrencyConfig when those inputs are set, ECR's DescribeImages for an image
    tag, and ListVersionsByFunction when nothing changed but the alias does not serve the code)
    and say what apply() will do. `artifact` is None for a container-image function and in
    rollback mode. With release gates, check before anything changes that CloudWatch can be read
    and every alarm exists. Every read, and the wait for an update already in progress, shares
    one deadline: the whole plan takes at most one wait-timeout."""
    options = options_of(spec)
    deadline = Deadline(calls.clock, spec.wait_timeout_s, f"reading Lambda function {spec.name}")
    if spec.release is not None and spec.release.gated:
        _check_gates(cloudwatch, spec, deadline)
    if spec.release is not None and spec.release.rollback is not None:
        return plan_rollback(calls, spec, deadline)
    image = ImageRef.parse(options.image_uri) if options.image_uri else None
    if image is None and artifact is None:
        raise ValueError("a zip function needs its artifact")  # main.py packages every zip function
    reads = _read(calls, spec, options, image, ecr_factory, deadline)
    alias_version, alias_revision = reads.alias.get("FunctionVersion"), reads.alias.get("RevisionId")
    url = next((c["FunctionUrl"] for c in reads.url_configs if c), "")
    url_plan, url_changes, url_steps = (
        plan_url(options, reads.url_configs[0], reads.policy) if options.function_url else (None, [], [])
    )
    concurrency, concurrency_changes, concurrency_steps = plan_concurrency(options, reads.function, reads.provisioned)
    side_changes = url_changes + concurrency_changes
    new_code_sha = artifact.sha256 if artifact is not None else reads.digest
    if reads.function is None:
        return _plan_create(spec, options, artifact, image, new_code_sha, url_plan, concurrency, side_changes, url_steps + concurrency_steps)

    current = reads.function
    config = current["Configuration"]
    if config.get("LastUpdateStatus") == "InProgress" or config.get("State") == "Pending":
        # Someone else's update is running: read the function once it settles, so the diff
        # and the RevisionId guard describe what apply() will really change.
        calls.log.info(f"{spec.name} has an update in progress; waiting for it before planning")
        current = calls.wait(deadline, spec.name)
        config = current["Configuration"]
    _check_package_type(spec, image, config)
    changes, config_update = configuration.diff(spec, options, config)
    code_update = new_code_sha is None or config.get("CodeSha256") != new_code_sha
    current_arch = tuple(config.get("Architectures") or ("x86_64",))
    if options.architectures and tuple(options.architectures) != current_arch:
        # Lambda changes the architecture only together with the code.
        code_update = True
        changes.append(Change("architectures", list(current_arch), list(options.architectures)))
    wheels_for = "arm64" if artifact is not None and artifact.dependencies_platform.startswith("aarch64-") else "x86_64"
    if artifact is not None and artifact.dependencies_platform and not options.architectures and current_arch != (wheels_for,):
        raise ProviderError(
            f"{spec.name} runs on {current_arch[0]}, but its dependencies were installed for {wheels_for} "
            "(`architectures` not given: x86_64 is assumed)",
            hint=f"set `architectures: {current_arch[0]}`",
        )
    forced = options.force and not code_update
    if forced:
        # Lambda hands back the existing version when nothing changed since it was published; an
        # upload of the same code counts as a change (the next publish makes a new version).
        code_update = True
        changes.append(Change("force", None, "upload the code again and publish a new version"))
    current_tags = dict(current.get("Tags") or {})
    new_tags = {k: v for k, v in (options.tags or {}).items() if current_tags.get(k) != v}
    if new_tags:
        changes.append(Change("tags", {k: current_tags.get(k) for k in new_tags}, new_tags))
    changes.extend(side_changes)

    function_changed = code_update or bool(config_update) or bool(new_tags)
    reuse_version = None
    if options.publish and not function_changed:
        if reads.served_config is not None and serves(reads.served_config, config):
            reuse_version = reads.served_config["Version"]  # the alias already serves this code and configuration
        else:
            reuse_version = _published_version_with(calls, spec.name, config, deadline)
    publish = options.publish and (function_changed or reuse_version is None)
    target = None if publish else reuse_version
    alias_moves = bool(options.alias) and (publish or alias_version != target)
    if alias_moves and not publish:
        changes.append(Change(f"alias {options.alias}", alias_version, target))
    side_changed = (url_plan is not None and url_plan.changed) or concurrency.changed

    action = "update" if (function_changed or publish or alias_moves or side_changed) else "none"
    steps = []
    if forced:
        steps.append("force: upload the same code again so that Lambda publishes a new version")
    if code_update:
        steps.append(_code_step(artifact, image))
    if config_update:
        steps.append("update configuration: " + ", ".join(sorted(config_update)))
    if new_tags:
        steps.append("tag: " + ", ".join(sorted(new_tags)))
    if publish:
        steps.append("publish a new version")
    weights = _weights(reads.alias)
    if spec.release is not None:  # the release step moves the alias (and says how in the plan)
        steps.extend(rollout.plan_lines(spec, options.alias, alias_version, target or ("$LATEST" if not publish else None), bool(weights)))
    elif alias_moves:
        steps.append(f"{'move' if alias_version is not None else 'create'} alias {options.alias}")
    if alias_moves and concurrency.provisioned is None and concurrency.provisioned_configured:
        steps.append(f"wait until the provisioned concurrency of alias {options.alias} is READY on the new version")
    steps.extend(url_steps)
    steps.extend(concurrency_steps)
    if action == "none":
        steps.append(f"nothing to do: version {reuse_version or '$LATEST'} already serves this code")
    state = LambdaState(
        exists=True,
        function_arn=unqualified(config["FunctionArn"]),
        revision_id=config.get("RevisionId"),
        code_sha256=config.get("CodeSha256"),
        expected_sha256=new_code_sha,
        code_update=code_update,
        config_update=MappingProxyType(config_update),
        tags=MappingProxyType(new_tags),
        publish=publish,
        reuse_version=reuse_version,
        alias=options.alias,
        alias_version=alias_version,
        alias_revision_id=alias_revision,
        url=url,
        url_plan=url_plan,
        concurrency=concurrency,
        alias_by_release=spec.release is not None,
        alias_weights=MappingProxyType(weights),
        alias_description=reads.alias.get("Description"),
        timeout_s=options.timeout_s or config.get("Timeout") or 3,
    )
    return Plan(
        provider="aws",
        function=spec.name,
        action=action,
        changes=tuple(changes),
        code_sha256_old=config.get("CodeSha256"),
        code_sha256_new=new_code_sha or "",
        steps=tuple(steps),
        publish=publish,
        alias=options.alias,
        state=state,
    )


def _read(
    calls: LambdaCalls, spec: FunctionSpec, options: AwsOptions, image: ImageRef | None,
    ecr_factory: Callable[[], Any], deadline: Deadline,
) -> _Reads:
    # Every read the plan may need, in one round trip: the function, the alias, the version it
    # serves, the function URLs the outputs report, the URL's policy and the alias's provisioned
    # concurrency when those inputs are set, and the digest an image tag names now.
    qualifiers = ([options.alias] if options.alias else []) + [None]
    with ThreadPoolExecutor(max_workers=6 + len(qualifiers)) as pool:
        function = pool.submit(calls.get_function, spec.name, deadline=deadline)
        alias = pool.submit(calls.get_alias, spec.name, options.alias, deadline)
        served = pool.submit(_served_configuration, calls, spec.name, options.alias, deadline)
        urls = [pool.submit(calls.url_config, spec.name, qualifier, deadline) for qualifier in qualifiers]
        policy = pool.submit(calls.policy, spec.name, options.alias, deadline) if options.function_url else None
        provisioned = (
            pool.submit(calls.provisioned, spec.name, options.alias, deadline)
            if options.provisioned_concurrency is not None and options.alias else None
        )
        digest = pool.submit(digest_of, calls, image, ecr_factory, deadline) if image else None
        return _Reads(
            function=function.result(),
            alias=alias.result() or {},
            served_config=served.result(),
            url_configs=[lookup.result() for lookup in urls],
            policy=policy.result() if policy else [],
            provisioned=provisioned.result() if provisioned else None,
            digest=digest.result() if digest else None,
        )


def _check_package_type(spec: FunctionSpec, image: ImageRef | None, config: Mapping[str, Any]) -> None:
    """Lambda cannot turn a zip function into an image function, or back, in place."""
    deployed = config.get("PackageType") or "Zip"
    if image is not None and deployed != "Image":
        raise ProviderError(
            f"{spec.name} is a zip function; Lambda cannot turn it into a container-image function in place",
            hint="deploy the image to a new function (or delete this one first), or deploy a zip with `source`/`package`",
        )
    if image is None and deployed != "Zip":
        raise ProviderError(
            f"{spec.name} is a container-image function; a zip cannot replace an image in place",
            hint="deploy the image with `image-uri`, or create a new zip function",
        )


def _code_step(artifact: Artifact | None, image: ImageRef | None) -> str:
    if image is not None:
        return f"update code to image {image.uri}"
    assert artifact is not None
    return "update code" + (" via S3" if artifact.size > DIRECT_UPLOAD_LIMIT else "")


def _plan_create(
    spec: FunctionSpec, options: AwsOptions, artifact: Artifact | None, image: ImageRef | None, code_sha: str | None,
    url_plan: UrlPlan | None, concurrency: ConcurrencyPlan, side_changes: list[Change], side_steps: list[str],
) -> Plan:
    missing = [name for name, value in (("role", options.role), ("runtime", options.runtime)) if not value and (name == "role" or image is None)]
    if image is None and not options.handler and not (options.runtime or "").startswith("provided"):
        missing.append("handler")
    if missing:
        raise ProviderError(
            f"function {spec.name} does not exist in {options.region}; creating it needs "
            + ", ".join(f"`{m}`" for m in missing),
            hint="set those inputs, or check function-name and region",
        )
    params: dict[str, Any] = {"FunctionName": spec.name, "PackageType": "Image" if image else "Zip"}
    params.update(configuration.wanted(spec, options, None))
    if options.architectures:
        params["Architectures"] = list(options.architectures)
    if options.tags:
        params["Tags"] = dict(options.tags)
    changes = [
        Change(key, None, plain(value))
        for key, value in sorted(params.items())
        if key not in ("FunctionName", "Environment")
    ]
    if image is not None:
        changes.append(Change("ImageUri", None, image.uri))
    if spec.environment is not None:
        # Name the variables, never their values: a masked value in the plan output would
        # make the runner drop the whole output.
        changes.append(Change("environment", None, {"changed keys": sorted(spec.environment)}))
    changes.extend(side_changes)
    if image is not None:
        steps = [f"create the function from image {image.uri}"]
    else:
        assert artifact is not None
        steps = ["create the function" + (" (code via S3)" if artifact.size > DIRECT_UPLOAD_LIMIT else "")]
    if options.publish:
        steps.append("publish version 1")
    if options.alias and spec.release is None:
        steps.append(f"create alias {options.alias}")
    if spec.release is not None:
        steps.extend(rollout.plan_lines(spec, options.alias, None, "1" if options.publish else "$LATEST", False))
    steps.extend(side_steps)
    return Plan(
        provider="aws",
        function=spec.name,
        action="create",
        changes=tuple(changes),
        code_sha256_old=None,
        code_sha256_new=code_sha or "",
        steps=tuple(steps),
        publish=options.publish,
        alias=options.alias,
        state=LambdaState(
            exists=False,
            expected_sha256=code_sha,
            create_params=MappingProxyType(params),
            publish=options.publish,
            alias=options.alias,
            url_plan=url_plan,
            concurrency=concurrency,
            alias_by_release=spec.release is not None,
            timeout_s=options.timeout_s or 3,
        ),
    )


def _published_version_with(calls: LambdaCalls, name: str, latest: Mapping[str, Any], deadline: Deadline) -> str | None:
    """The highest published version that serves $LATEST's code and configuration (a no-op
    redeploy reports it instead of publishing a duplicate)."""
    best = None
    for version in calls.versions(name, deadline):
        if serves(version, latest) and (best is None or int(version["Version"]) > int(best)):
            best = version["Version"]
    return best


def _served_configuration(calls: LambdaCalls, name: str, alias: str | None, deadline: Deadline) -> dict | None:
    """The configuration of the version the alias points to; None without such an alias.
    (GetFunction rather than GetFunctionConfiguration: the same IAM action as every other read.)"""
    found = calls.get_function(name, alias, deadline) if alias else None
    return found["Configuration"] if found else None


def plan_rollback(calls: LambdaCalls, spec: FunctionSpec, deadline: Deadline) -> Plan:
    """Rollback mode: no package; read the alias and the published versions, and say which
    version the alias goes back to."""
    options = options_of(spec)
    assert spec.release is not None and spec.release.rollback is not None and options.alias
    with ThreadPoolExecutor(max_workers=4) as pool:
        function = pool.submit(calls.get_function, spec.name, deadline=deadline)
        alias = pool.submit(calls.get_alias, spec.name, options.alias, deadline)
        listed = pool.submit(calls.versions, spec.name, deadline)
        url = pool.submit(calls.url_of, spec.name, options.alias, deadline)
        current, alias_info, versions = function.result(), alias.result(), listed.result()
    if current is None:
        raise ProviderError(f"function {spec.name} does not exist in {options.region}: nothing to roll back",
                            hint="check function-name and region")
    if alias_info is None:
        raise ProviderError(f"alias {options.alias} of {spec.name} does not exist: nothing to roll back",
                            hint="check the `alias` input")
    serving = alias_info["FunctionVersion"]
    published = {v["Version"]: v for v in versions if v.get("Version", "").isdigit()}
    target, why = rollback_target(spec.release.rollback, serving, alias_info.get("Description"), list(published))
    weights = _weights(alias_info)
    moves = target != serving or bool(weights)
    changes = (Change(f"alias {options.alias}", serving, target),) if moves else ()
    steps = [f"roll back alias {options.alias}: version {serving} -> {target} ({why})" if moves
             else f"alias {options.alias} already serves version {target} ({why})"]
    steps.extend(rollout.plan_lines(spec, options.alias, serving, target, bool(weights)))
    config = current["Configuration"]
    chosen, served = published[target], published.get(serving, {})
    return Plan(
        provider="aws",
        function=spec.name,
        action="update" if moves else "none",
        changes=changes,
        code_sha256_old=served.get("CodeSha256"),
        code_sha256_new=chosen.get("CodeSha256", ""),
        steps=tuple(steps),
        publish=False,
        alias=options.alias,
        state=LambdaState(
            exists=True,
            function_arn=unqualified(config["FunctionArn"]),
            alias=options.alias,
            alias_version=serving,
            alias_revision_id=alias_info.get("RevisionId"),
            url=url.result(),
            alias_by_release=True,
            alias_weights=MappingProxyType(weights),
            alias_description=alias_info.get("Description"),
            timeout_s=chosen.get("Timeout") or 3,
            rollback_target=target,
            target_code=MappingProxyType({"CodeSha256": chosen.get("CodeSha256", ""), "CodeSize": chosen.get("CodeSize", 0)}),
        ),
    )


def _weights(alias_info: Mapping[str, Any]) -> dict[str, float]:
    return dict((alias_info.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})


def _check_gates(cloudwatch: CloudWatch | None, spec: FunctionSpec, deadline: Deadline) -> None:
    """Before anything changes: every alarm exists (a misspelt name would silently disable its
    gate), and the error-rate gate may read CloudWatch (one small read)."""
    release = spec.release
    assert release is not None
    if cloudwatch is None:
        raise ProviderError("the release gates need a CloudWatch client, and this provider has none")
    if release.alarms:
        missing = cloudwatch.missing_alarms(release.alarms, deadline)
        if missing:
            raise ProviderError(
                f"CloudWatch has no alarm named {', '.join(missing)} in this region",
                hint="check the `alarms` input; nothing was changed",
            )
    if release.max_error_rate is not None:
        now = datetime.now(timezone.utc)
        try:
            cloudwatch.counts(dimensions(spec.name.rsplit(":", 1)[-1]), now - timedelta(minutes=1), now, deadline)
        except ProviderError as exc:
            raise ProviderError(f"max-error-rate cannot be checked: {exc.message}; nothing was changed", hint=exc.hint) from exc
