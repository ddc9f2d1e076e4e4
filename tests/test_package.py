"""Reproducible zips and what goes into them."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from faas_action import package
from faas_action.errors import InputError


def make_tree(root: Path) -> Path:
    source = root / "src"
    (source / "pkg" / "sub").mkdir(parents=True)
    (source / "app.py").write_text("print('app')\n")
    (source / "pkg" / "__init__.py").write_text("")
    (source / "pkg" / "sub" / "data.json").write_text('{"a": 1}\n')
    (source / "bootstrap").write_text("#!/bin/sh\n")
    (source / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(source / "run.sh", 0o700)
    os.chmod(source / "app.py", 0o600)
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (source / ".github" / "workflows").mkdir(parents=True)
    (source / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (source / "gha-creds-0123456789abcdef.json").write_text('{"type": "external_account"}')
    return source


def build(source: Path, tmp: Path, **kwargs):
    return package.build(source, tmp / "elsewhere", out_dir=tmp, **kwargs)


def names(artifact) -> list[str]:
    with zipfile.ZipFile(artifact.path) as archive:
        return archive.namelist()


def test_same_tree_gives_identical_bytes(tmp_path):
    source = make_tree(tmp_path)
    first = build(source, tmp_path)
    os.utime(source / "app.py", (1_700_000_000, 1_700_000_000))  # timestamps must not matter
    second = build(source, tmp_path)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256 and first.size == second.size


def test_entries_are_sorted_with_fixed_times_and_normalised_modes(tmp_path):
    artifact = build(make_tree(tmp_path), tmp_path)
    with zipfile.ZipFile(artifact.path) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["app.py", "bootstrap", "pkg/__init__.py", "pkg/sub/data.json", "run.sh"]
    modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in infos}
    assert modes == {"app.py": 0o644, "bootstrap": 0o755, "pkg/__init__.py": 0o644, "pkg/sub/data.json": 0o644, "run.sh": 0o755}
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
    assert all(stat.S_ISREG(i.external_attr >> 16) for i in infos)


def test_vcs_github_and_credential_files_are_never_packaged(tmp_path):
    listed = names(build(make_tree(tmp_path), tmp_path))
    assert not [n for n in listed if n.startswith((".git/", ".github/")) or n.startswith("gha-creds-")]


@pytest.mark.parametrize(
    ("files", "provider_file", "expected_absent", "expected_present"),
    [
        ({".faasignore": "*.json\n!keep.json\n"}, None, ["pkg/sub/data.json", ".faasignore"], ["keep.json"]),
        ({".funcignore": "pkg/\n"}, ".funcignore", ["pkg/__init__.py"], [".funcignore", "app.py"]),
        ({".gcloudignore": "run.sh\n#!include:.extra\n", ".extra": "bootstrap\n"}, ".gcloudignore", ["run.sh", "bootstrap"], ["app.py"]),
        ({".faasignore": "app.py\n", ".funcignore": "pkg/\n"}, ".funcignore", ["app.py"], ["pkg/__init__.py"]),
    ],
)
def test_ignore_files(tmp_path, files, provider_file, expected_absent, expected_present):
    source = make_tree(tmp_path)
    (source / "keep.json").write_text("{}")
    for name, content in files.items():
        (source / name).write_text(content)
    listed = names(build(source, tmp_path, provider_ignore_file=provider_file))
    for name in expected_absent:
        assert name not in listed
    for name in expected_present:
        assert name in listed


def test_default_ignores_apply_only_without_an_ignore_file(tmp_path):
    source = make_tree(tmp_path)
    (source / ".gitignore").write_text("pkg/\n")
    defaults = (".gcloudignore", ".git", ".gitignore", "#!include:.gitignore")
    listed = names(build(source, tmp_path, provider_ignore_file=".gcloudignore", default_ignores=defaults))
    assert "pkg/__init__.py" not in listed and ".gitignore" not in listed
    (source / ".gcloudignore").write_text("run.sh\n")
    listed = names(build(source, tmp_path, provider_ignore_file=".gcloudignore", default_ignores=defaults))
    assert "pkg/__init__.py" in listed and "run.sh" not in listed


def test_symlinks_inside_are_followed_and_outside_refused(tmp_path):
    source = make_tree(tmp_path)
    os.symlink(source / "pkg", source / "alias_pkg")
    os.symlink("app.py", source / "app_link.py")
    listed = names(build(source, tmp_path))
    assert "app_link.py" in listed
    assert "pkg/__init__.py" in listed and "alias_pkg/__init__.py" in listed
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    os.symlink(outside, source / "leak.txt")
    os.symlink(tmp_path / "missing", source / "dangling")
    with pytest.raises(InputError) as error:
        build(source, tmp_path)
    messages = [p.message for p in error.value.problems]
    assert any("leak.txt" in m and "leaves the source" in m for m in messages)
    assert any("dangling" in m for m in messages)


def test_zip_is_written_outside_the_workspace(tmp_path):
    source = make_tree(tmp_path)
    artifact = package.build(source, tmp_path, out_dir=tmp_path / "src")  # asked to write inside
    assert tmp_path.resolve() not in artifact.path.resolve().parents


def test_empty_source_is_an_input_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="nothing to package"):
        build(tmp_path / "empty", tmp_path)


def test_artifact_hashes_and_sizes(tmp_path):
    import base64
    import hashlib

    artifact = build(make_tree(tmp_path), tmp_path)
    data = artifact.path.read_bytes()
    assert artifact.sha256 == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert artifact.sha256_hex == hashlib.sha256(data).hexdigest()
    assert artifact.size == len(data)
    assert artifact.file_count == 5
    assert artifact.unzipped_size == sum(len(p.read_bytes()) for p in [tmp_path / "src" / n for n in ("app.py", "bootstrap", "run.sh", "pkg/__init__.py", "pkg/sub/data.json")])


def test_symlink_loop_is_refused(tmp_path):
    source = make_tree(tmp_path)
    os.symlink(source, source / "pkg" / "again")
    with pytest.raises(InputError, match="loops back"):
        build(source, tmp_path)


def test_dependencies_merge_into_the_root_without_the_source_ignore_rules(tmp_path: Path) -> None:
    source = make_tree(tmp_path)
    (source / ".faasignore").write_text("*.log\n")
    (source / "skipped.log").write_text("ignored\n")
    deps = tmp_path / "deps"
    (deps / "pkg").mkdir(parents=True)
    (deps / "pkg" / "installed.py").write_text("x = 1\n")
    (deps / "requests").mkdir()
    (deps / "requests" / "__init__.py").write_text("")
    (deps / "notes.log").write_text("kept: the ignore rules are the source's\n")
    artifact = build(source, tmp_path, dependencies=deps)
    listed = names(artifact)
    assert listed == sorted(listed)
    assert {"pkg/installed.py", "pkg/__init__.py", "requests/__init__.py", "notes.log", "app.py"} <= set(listed)
    assert "skipped.log" not in listed
    assert build(source, tmp_path, dependencies=deps, workers=1).sha256 == artifact.sha256


def test_a_file_both_in_the_source_and_the_dependencies_is_refused(tmp_path: Path) -> None:
    source = make_tree(tmp_path)
    deps = tmp_path / "deps"
    deps.mkdir()
    (deps / "app.py").write_text("shadow\n")
    with pytest.raises(InputError, match="app.py"):
        build(source, tmp_path, dependencies=deps)
