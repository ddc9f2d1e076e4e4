"""The workflows we ship and show: our own (.github/workflows), the examples (examples/workflows)
and every workflow in README.md and docs/*.md.

- Every action they call runs on Node 24 (the runners dropped Node 20): its major (or its exact
  release, or its commit SHA with a `# vX.Y.Z` comment) is on the list below, which was checked
  by reading each action's own action.yml at that tag. An action not on it fails the test: read
  its action.yml at the tag (`runs.using: node24`) before adding it.
- Our own workflows pin every action by full commit SHA.
- The examples and the Markdown workflows pass actionlint (with shellcheck) and the GitHub
  workflow schema with `faas-action/faas-action@v1` replaced by `./`, so that their `with:` keys
  and `steps.*.outputs.*` are checked against this tree's action.yml.
- .ci/pin-image (the release commit's action.yml) keeps action.yml valid and refuses bad input.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OURS = "faas-action/faas-action"


@dataclass(frozen=True)
class Node24:
    """Refs of one action whose action.yml says `runs.using: node24`."""

    majors: frozenset[str]  # moving major tags, e.g. v7
    releases: dict[str, str]  # release tag -> its commit SHA


# Read at each tag in the action's repository (2026 snapshots): `runs.using` is node24 for every
# ref below. Older majors say node20 (checkout v4, configure-aws-credentials v4 and v5, auth v2,
# upload-artifact v4 and v5, download-artifact v6 and older, github-script v7, setup-python v5,
# docker/* of the previous major).
NODE24: dict[str, Node24] = {
    "actions/checkout": Node24(frozenset({"v5", "v6", "v7"}), {"v7.0.1": "3d3c42e5aac5ba805825da76410c181273ba90b1"}),
    "actions/setup-python": Node24(frozenset({"v6", "v7"}), {"v7.0.0": "5fda3b95a4ea91299a34e894583c3862153e4b97"}),
    "actions/setup-node": Node24(frozenset({"v5", "v6", "v7"}), {"v7.0.0": "820762786026740c76f36085b0efc47a31fe5020"}),
    "actions/upload-artifact": Node24(frozenset({"v6", "v7"}), {"v7.0.0": "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"}),
    "actions/download-artifact": Node24(frozenset({"v7", "v8"}), {"v8.0.1": "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c"}),
    "actions/github-script": Node24(frozenset({"v8"}), {"v8.0.0": "ed597411d8f924073f98dfc5c65a23a2325f34cd"}),
    "aws-actions/configure-aws-credentials": Node24(
        frozenset({"v6"}), {"v6.2.3": "e6de054238d6b7531b4efff3b6587d9aade6a06c"}
    ),
    "azure/login": Node24(frozenset({"v3"}), {"v3.0.1": "f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca"}),
    "google-github-actions/auth": Node24(frozenset({"v3"}), {"v3.0.0": "7c6bc770dae815cd3e89ee6cdf493a5fab2cc093"}),
    # No moving major tag: pin a release or its SHA.
    "marocchino/sticky-pull-request-comment": Node24(
        frozenset(), {"v3.0.5": "5770ad5eb8f42dd2c4f34da00c94c5381e49af88"}
    ),
    "docker/setup-qemu-action": Node24(frozenset({"v4"}), {"v4.2.0": "96fe6ef7f33517b61c61be40b68a1882f3264fb8"}),
    "docker/setup-buildx-action": Node24(frozenset({"v4"}), {"v4.3.0": "37fe631027851001ddb9b187196cc803df7f5f0e"}),
    "docker/login-action": Node24(frozenset({"v4"}), {"v4.1.0": "4907a6ddec9925e35a0a9e82d7399ccc52663121"}),
    "docker/metadata-action": Node24(frozenset({"v6"}), {"v6.2.0": "dc802804100637a589fabce1cb79ff13a1411302"}),
    "docker/build-push-action": Node24(frozenset({"v7"}), {"v7.3.0": "53b7df96c91f9c12dcc8a07bcb9ccacbed38856a"}),
}

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)(?:\s+#\s*(?P<comment>\S+))?")
SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Workflow:
    name: str  # where it comes from, e.g. README.md#1
    text: str


def _markdown_workflows(path: Path) -> list[Workflow]:
    blocks = re.findall(r"^```ya?ml\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    found = []
    for block in blocks:
        data = yaml.safe_load(block)
        if isinstance(data, dict) and "jobs" in data:
            found.append(Workflow(f"{path.relative_to(ROOT)}#{len(found) + 1}", block))
    return found


def shown_workflows() -> list[Workflow]:
    """The examples and every workflow in the README and docs: what users copy."""
    found = [Workflow(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in sorted((ROOT / "examples").rglob("*.yml"))]
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        found += _markdown_workflows(doc)
    return found


def own_workflows() -> list[Workflow]:
    return [Workflow(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in sorted((ROOT / ".github" / "workflows").glob("*.yml"))]


def remote_uses(workflow: Workflow) -> list[tuple[int, str, str, str | None]]:
    """(line, action, ref, comment) of each step that calls another repository's action."""
    found = []
    for number, line in enumerate(workflow.text.splitlines(), 1):
        match = USES.match(line)
        if not match or match["ref"].startswith(("./", "docker://")):
            continue
        action, _, ref = match["ref"].partition("@")
        action = "/".join(action.split("/")[:2]).lower()  # owner/repo of owner/repo/path
        found.append((number, action, ref, match["comment"]))
    return found


def node24_problem(action: str, ref: str, comment: str | None) -> str | None:
    if action == OURS:
        return None if ref == "v1" else f"{OURS}@{ref}: the examples use the major tag v1"
    known = NODE24.get(action)
    if known is None:
        return f"{action} is not on the verified Node 24 list (read its action.yml at the tag, then add it)"
    if SHA.fullmatch(ref):
        tag = next((t for t, sha in known.releases.items() if sha == ref), None)
        if tag is None:
            return f"{action}@{ref}: not a verified release commit"
        if comment != tag:
            return f"{action}@{ref}: the comment should say # {tag}, not # {comment}"
        return None
    if ref in known.majors or ref in known.releases:
        return None
    return f"{action}@{ref}: not a verified Node 24 ref (verified: {sorted(known.majors | set(known.releases))})"


def test_markdown_workflows_are_found():
    names = [w.name for w in shown_workflows()]
    assert "README.md#1" in names and "docs/azure.md#1" in names and "docs/gcp.md#1" in names
    assert "examples/workflows/aws.yml" in names


@pytest.mark.parametrize("workflow", own_workflows() + shown_workflows(), ids=lambda w: w.name)
def test_every_action_called_runs_on_node24(workflow: Workflow):
    problems = [f"line {n}: {p}" for n, action, ref, comment in remote_uses(workflow) if (p := node24_problem(action, ref, comment))]
    assert problems == []


@pytest.mark.parametrize("workflow", own_workflows(), ids=lambda w: w.name)
def test_own_workflows_pin_actions_by_commit_sha(workflow: Workflow):
    loose = [f"line {n}: {action}@{ref}" for n, action, ref, _ in remote_uses(workflow) if not SHA.fullmatch(ref)]
    assert loose == []


def test_node24_check_refuses_node20_refs_and_unverified_commits():
    assert node24_problem("actions/checkout", "v4", None)
    assert node24_problem("aws-actions/configure-aws-credentials", "v5", None)
    assert node24_problem("some/unknown-action", "v1", None)
    assert node24_problem("actions/checkout", "0" * 40, "v7.0.1")
    assert node24_problem("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v6.0.0")
    assert node24_problem("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1") is None
    uses = remote_uses(Workflow("w", "    steps:\n      - uses: Azure/login@v2\n      - uses: Azure/login@v3 # v3\n"))
    assert [(action, ref) for _, action, ref, _ in uses] == [("azure/login", "v2"), ("azure/login", "v3")]
    assert [node24_problem(a, r, c) is None for _, a, r, c in uses] == [False, True]


def test_release_permissions_are_scoped_to_the_job_that_needs_them():
    release = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert release["permissions"] == {}
    jobs = release["jobs"]
    with_packages = [name for name, job in jobs.items() if job.get("permissions", {}).get("packages") == "write"]
    assert with_packages == ["image"]
    assert jobs["image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert jobs["release"]["permissions"] == {"contents": "write"}


def _project(tmp_path: Path) -> Path:
    """A repository root holding this tree's action.yml and Dockerfile (actionlint reads both
    for `uses: ./`) and an empty .git (how actionlint finds the root)."""
    root = tmp_path / "repo"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".git").mkdir()
    shutil.copy(ROOT / "action.yml", root / "action.yml")
    shutil.copy(ROOT / "Dockerfile", root / "Dockerfile")
    return root


def _lint(root: Path, files: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "actionlint"), f"-shellcheck={BIN / 'shellcheck'}", "-pyflakes=", "-no-color", *map(str, files)],
        cwd=root, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )


def test_shown_workflows_pass_actionlint_and_the_schema_against_this_action(tmp_path):
    root = _project(tmp_path)
    files = []
    for workflow in shown_workflows():
        path = root / ".github" / "workflows" / (re.sub(r"[^A-Za-z0-9]+", "-", workflow.name) + ".yml")
        path.write_text(workflow.text.replace(f"{OURS}@v1", "./"), encoding="utf-8")
        files.append(path)
    lint = _lint(root, files)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    schema = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, files)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr


def test_dependabot_configs_shown_and_used_pass_the_schema(tmp_path):
    files = [ROOT / ".github" / "dependabot.yml"]
    blocks = re.findall(r"^```ya?ml\n(.*?)^```", (ROOT / "README.md").read_text(), flags=re.M | re.S)
    for index, block in enumerate(b for b in blocks if "package-ecosystem" in b):
        path = tmp_path / f"dependabot-{index}.yml"
        path.write_text(block)
        files.append(path)
    assert len(files) >= 2, "the README shows a Dependabot configuration"
    schema = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.dependabot", *map(str, files)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr


def test_actionlint_here_catches_an_input_action_yml_does_not_declare(tmp_path):
    """The check above can fail: a misspelt input of this action is reported."""
    root = _project(tmp_path)
    workflow = (ROOT / "examples" / "workflows" / "aws.yml").read_text().replace(f"{OURS}@v1", "./")
    path = root / ".github" / "workflows" / "typo.yml"
    path.write_text(workflow.replace("handler: app.handler", "handlr: app.handler"), encoding="utf-8")
    lint = _lint(root, [path])
    assert lint.returncode == 1
    assert 'input "handlr" is not defined in action "faas-action"' in lint.stdout


# -- the release commit's action.yml ----------------------------------------------------------

DIGEST = "sha256:" + "0123456789abcdef" * 4


def _pin(action_yml: Path, image: str, digest: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / ".ci" / "pin-image"), image, digest, str(action_yml)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )


def test_pin_image_points_action_yml_at_the_digest_and_keeps_it_valid(tmp_path):
    action_yml = tmp_path / "action.yml"
    shutil.copy(ROOT / "action.yml", action_yml)
    assert yaml.safe_load(action_yml.read_text())["runs"]["image"] == "Dockerfile"
    pinned = _pin(action_yml, "ghcr.io/octo-org/faas-action", DIGEST)
    assert pinned.returncode == 0, pinned.stderr
    after = yaml.safe_load(action_yml.read_text())
    before = yaml.safe_load((ROOT / "action.yml").read_text())
    assert after["runs"] == {**before["runs"], "image": f"docker://ghcr.io/octo-org/faas-action@{DIGEST}"}
    assert {k: v for k, v in after.items() if k != "runs"} == {k: v for k, v in before.items() if k != "runs"}
    schema = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(action_yml)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr
    again = _pin(action_yml, "ghcr.io/octo-org/faas-action", DIGEST)
    assert again.returncode == 1 and "expected 1" in again.stderr


@pytest.mark.parametrize("image, digest", [
    ("ghcr.io/Octo-Org/faas-action", DIGEST),  # ghcr.io names are lower-case
    ("docker.io/octo/faas-action", DIGEST),
    ("ghcr.io/octo/other", DIGEST),
    ("ghcr.io/octo/faas-action", "sha256:abc"),
    ("ghcr.io/octo/faas-action", "1.2.3"),
])
def test_pin_image_refuses_what_is_not_a_ghcr_image_digest(tmp_path, image, digest):
    action_yml = tmp_path / "action.yml"
    shutil.copy(ROOT / "action.yml", action_yml)
    refused = _pin(action_yml, image, digest)
    assert refused.returncode == 1
    assert action_yml.read_text() == (ROOT / "action.yml").read_text()


# -- the release notes ------------------------------------------------------------------------


def _notes(version: str, changelog: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / ".ci" / "release-notes"), version, str(changelog)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )


def test_the_project_version_has_release_notes():
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    notes = _notes(version, ROOT / "CHANGELOG.md")
    assert notes.returncode == 0, notes.stderr
    assert "### Added" in notes.stdout


def test_release_notes_are_one_section_without_the_link_references(tmp_path):
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(
        "# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - 2027-01-02\n\n### Fixed\n\n- b\n\n"
        "## [1.0.0] - 2026-12-05\n\n### Added\n\n- a\n\n"
        "[Unreleased]: https://example.invalid/compare\n[1.0.0]: https://example.invalid/1.0.0\n"
    )
    assert _notes("1.1.0", changelog).stdout.strip() == "### Fixed\n\n- b"
    assert _notes("1.0.0", changelog).stdout.strip() == "### Added\n\n- a"
    assert _notes("1.0", changelog).returncode == 1  # a prefix is not a section
    assert _notes("Unreleased", changelog).returncode == 1  # empty
    assert _notes("2.0.0", changelog).returncode == 1
