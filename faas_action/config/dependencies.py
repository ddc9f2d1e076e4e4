"""The dependency inputs' rules (issue 15): which file, which Python, which platform, which cache.

Owns: `dependencies(fields, provider, source, options, workspace) -> DependencySpec` and the
index credentials to mask.
Must not: install anything (faas_action/dependencies.py does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .. import dependencies as installer
from ..models import DependencySpec
from .fields import Fields
from .files import inside

DEPENDENCY_INPUTS = ("dependencies-platform", "dependencies-cache")
AZURE_PACKAGES_DIR = ".python_packages/lib/site-packages"  # where the Functions Python worker looks


def dependencies(f: Fields, provider: str, source: Path | None, options: Any, workspace: Path) -> DependencySpec | None:
    """`dependencies` and its companions → what to install for which platform, or problems."""
    value = f.text("dependencies")
    runtime = f.text("runtime")
    remote_build = provider == "azure" and options.remote_build
    if value is None:
        for name in DEPENDENCY_INPUTS:
            if f.given(name):
                f.problem(name, "applies only with `dependencies`")
        if provider == "azure" and runtime and not f.given("dependencies"):
            f.problem("runtime", "on azure, `runtime` only names the Python version for `dependencies` (the app's own stack is set in Azure)")
        if remote_build and options.deploy_method == "run-from-package":
            f.problem("remote-build", "run-from-package deploys the package as is: no remote build runs there; use deploy-method auto or zipdeploy")
        return None
    if provider == "gcp":
        f.problem("dependencies", "Cloud Functions installs the dependencies itself from requirements.txt in the source (Cloud Build): "
                  "remove `dependencies` and keep requirements.txt at the root of `source`")
        return None
    if remote_build:
        f.problem("remote-build", "choose `dependencies` (installed here, into the package) or `remote-build: true` (installed by Azure), not both")
    if source is None:
        if f.given("package"):
            f.problem("dependencies", "dependencies are installed into a package built from `source`, not into a ready-made `package`")
        return None
    file = (source / value).resolve()
    if not file.is_relative_to(source):
        f.problem("dependencies", f"{value!r} resolves outside `source` ({file}); refused")
    elif not file.exists():
        f.problem("dependencies", f"{value!r} does not exist in `source` (a requirements file or a pyproject.toml with a uv.lock)")
    elif not file.is_file():
        f.problem("dependencies", f"{value!r} is not a regular file (a requirements file or a pyproject.toml with a uv.lock)")
    elif file.name == "pyproject.toml" and not (file.parent / "uv.lock").is_file():
        f.problem("dependencies", f"{value!r} needs a uv.lock beside it (run `uv lock`), or name a requirements file")
    elif file.suffix == ".toml" and file.name != "pyproject.toml":
        f.problem("dependencies", f"{value!r}: a TOML file must be a pyproject.toml (with a uv.lock beside it)")
    elif file.name == "pyproject.toml":
        for message in installer.lock_problems(file):
            f.problem("dependencies", message)
    else:
        for message in installer.requirement_files(file, workspace)[1]:
            f.problem("dependencies", message)

    version = installer.python_version(runtime)
    if runtime is None:
        if not f.given("runtime"):
            f.problem("runtime", "required with `dependencies`: the function's Python version (e.g. python3.12) decides which wheels are installed")
    elif version is None:
        f.problem("dependencies", f"installs Python packages, but runtime {runtime!r} is not a Python runtime such as python3.12")
    architecture = "x86_64"
    if provider == "aws" and options.architectures:
        architecture = options.architectures[0]
    platform = None
    if f.given("dependencies-platform"):
        text = f.text("dependencies-platform") or ""
        platform = installer.parse_platform(text)
        if platform is None:
            f.problem("dependencies-platform", f"{text!r} is not a manylinux platform such as x86_64-manylinux_2_28, "
                      f"manylinux_2_28_aarch64 or manylinux2014_x86_64 (glibc 2.17, 2.28, 2.31 to 2.40)")
    if version and platform:
        for message in installer.platform_problems(provider, version, platform, architecture):
            f.problem("dependencies-platform", message)
    cache = None
    if f.given("dependencies-cache"):
        cache = inside(f, "dependencies-cache", f.text("dependencies-cache") or "", workspace)
        if cache is not None and cache.exists() and not cache.is_dir():
            f.problem("dependencies-cache", f"{cache} exists and is not a directory")
        elif cache is not None and (cache == source or cache in source.parents):
            f.problem("dependencies-cache", "must be a directory of its own, not `source` or a folder above it")
    if version is None:
        return None
    return DependencySpec(
        file=file,
        python_version=version,
        platform=platform or installer.default_platform(provider, version, architecture),
        cache=cache,
        prefix=AZURE_PACKAGES_DIR if provider == "azure" else "",
    )


def dependency_secrets(raws: list[dict[str, Any]], environ: Mapping[str, str], workspace: Path) -> list[str]:
    """The passwords and tokens of the package indexes, when some function installs installer."""
    files = []
    for raw in raws:
        if raw.get("dependencies"):
            source = workspace / str(raw.get("source") or ".")
            file = (source / str(raw["dependencies"])).resolve()
            if file.is_file():
                files.extend(installer.requirement_files(file, workspace.resolve())[0] if file.suffix != ".toml" else [file])
    if not files and not any(raw.get("dependencies") for raw in raws):
        return []
    return installer.secrets(environ, files)
