"""release.yml's shell steps, run with bash as the runner runs them (Docker, the registry and
GitHub's API cannot be reached here): the tag check of the `image` job against this tree, and the
`release` job's commit-and-move-tags step in a scratch repository whose `origin` is a local bare
repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.harness import ROOT

DIGEST = "sha256:" + "89abcdef01234567" * 4
IMAGE = "ghcr.io/octo-org/faas-action"


def step(job: str, name: str) -> str:
    steps = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())["jobs"][job]["steps"]
    return next(s["run"] for s in steps if s.get("name") == name)


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8", **env},
    )


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def test_the_tag_check_accepts_the_project_version_and_names_the_image(tmp_path):
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    output = tmp_path / "output"
    output.write_text("")
    env = {"GITHUB_REF_NAME": f"v{version}", "GITHUB_REPOSITORY_OWNER": "Octo-Org", "GITHUB_OUTPUT": str(output)}
    check = bash(step("image", "Check the tag against pyproject.toml and CHANGELOG.md"), ROOT, env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert output.read_text() == f"image={IMAGE}\n"  # ghcr.io names are lower-case


def test_the_tag_check_refuses_a_tag_the_tree_does_not_describe(tmp_path):
    output = tmp_path / "output"
    output.write_text("")
    env = {"GITHUB_REF_NAME": "v9.8.7", "GITHUB_REPOSITORY_OWNER": "octo", "GITHUB_OUTPUT": str(output)}
    check = bash(step("image", "Check the tag against pyproject.toml and CHANGELOG.md"), ROOT, env)
    assert check.returncode == 1
    assert "::error file=pyproject.toml::version is not 9.8.7" in check.stdout
    assert output.read_text() == ""


def test_the_release_commit_holds_the_digest_and_both_tags_move_to_it(tmp_path):
    origin = tmp_path / "origin.git"
    work = tmp_path / "work"
    git(tmp_path, "init", "--quiet", "--bare", str(origin))
    git(tmp_path, "init", "--quiet", str(work))
    (work / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "pin-image", work / ".ci" / "pin-image")
    shutil.copy(ROOT / "action.yml", work / "action.yml")
    identity = ["-c", "user.name=maintainer", "-c", "user.email=maintainer@example.invalid"]
    git(work, "add", ".")
    git(work, *identity, "commit", "--quiet", "-m", "main")
    git(work, *identity, "tag", "-a", "v1.0.0", "-m", "v1.0.0")
    git(work, *identity, "tag", "v1", "HEAD")  # a previous release's major tag, to be moved
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/main", "--tags")
    tagged = git(work, "rev-parse", "v1.0.0^{commit}")
    git(work, "checkout", "--quiet", "--detach", "v1.0.0")  # as actions/checkout leaves a tag push

    summary = tmp_path / "summary"
    env = {"GITHUB_REF_NAME": "v1.0.0", "IMAGE": IMAGE, "DIGEST": DIGEST, "GITHUB_STEP_SUMMARY": str(summary),
           "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    released = bash(step("release", "Commit action.yml with the image digest and move the tags"), work, env)
    assert released.returncode == 0, released.stdout + released.stderr

    commit = git(origin, "rev-parse", "v1.0.0^{commit}")
    assert git(origin, "rev-parse", "v1^{commit}") == commit
    assert commit != tagged and git(origin, "rev-parse", f"{commit}^") == tagged
    assert git(origin, "cat-file", "-t", "v1.0.0") == "tag"  # still an annotated tag
    action = yaml.safe_load(git(origin, "show", f"{commit}:action.yml"))
    assert action["runs"]["image"] == f"docker://{IMAGE}@{DIGEST}"
    assert git(origin, "diff", "--name-only", tagged, commit) == "action.yml"
    assert git(origin, "rev-parse", "main") == tagged  # the default branch keeps `image: Dockerfile`
    assert commit in summary.read_text()
