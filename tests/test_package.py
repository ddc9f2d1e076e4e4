"""Reproducible zips and what goes into them."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from faas_action import package
from faas_action.errors import InputError
from faas_action.package.tree import quoted


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


def test_a_chain_of_links_that_loops_is_one_problem_each_not_a_packaging_error(tmp_path):
    source = make_tree(tmp_path)
    os.symlink("self", source / "self")  # stat() says ELOOP, and so does is_dir()
    os.symlink("loop-b", source / "pkg" / "loop-a")
    os.symlink("loop-a", source / "pkg" / "loop-b")
    with pytest.raises(InputError) as error:
        build(source, tmp_path)
    messages = [p.message for p in error.value.problems]
    assert len(messages) == 3 and all("loops" in m for m in messages), messages


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


def test_secrets_are_looked_for_in_the_source_only(tmp_path: Path) -> None:
    """The warning's remedy is the source's ignore file, which does not apply to installed
    dependencies: their key-like files (moto ships `moto_proxy/ca.key`) are not warned about."""
    source = make_tree(tmp_path)
    deps = tmp_path / "deps"
    (deps / "moto" / "moto_proxy").mkdir(parents=True)
    (deps / "moto" / "moto_proxy" / "ca.key").write_text("-----BEGIN PRIVATE KEY-----\n")
    assert build(source, tmp_path, dependencies=deps).warnings == ()
    (source / ".env").write_text("TOKEN=abc\n")
    warnings = build(source, tmp_path, dependencies=deps).warnings
    assert len(warnings) == 1 and "'.env'" in warnings[0] and "ca.key" not in warnings[0]


# --- hostile workspaces and prebuilt zips (issue 10) -------------------------------------------


def test_a_name_that_is_not_utf8_is_an_input_error_that_shows_it_escaped(tmp_path):
    source = make_tree(tmp_path)
    os.mkdir(os.fsencode(source / "pkg") + b"/caf\xe9")
    (Path(os.fsdecode(os.fsencode(source / "pkg") + b"/caf\xe9")) / "x.py").write_text("x = 1\n")
    Path(os.fsdecode(os.fsencode(source) + b"/r\xe9sum\xe9.txt")).write_text("cv\n")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError) as error:
        package.build(source, tmp_path / "elsewhere", out_dir=out)
    messages = [str(p) for p in error.value.problems]
    assert any("'pkg/caf\\xe9'" in m and "UTF-8" in m for m in messages), messages
    assert any("'r\\xe9sum\\xe9.txt'" in m for m in messages), messages
    for message in messages:
        message.encode("utf-8")  # printable as it is: no lone surrogates
    assert list(out.iterdir()) == []
    (source / ".faasignore").write_text("pkg/caf*\nr*.txt\n")  # left out: nothing to refuse
    assert "app.py" in names(build(source, tmp_path))


IGNORE_FILES = [  # (provider ignore file, defaults, the name that links out of the source)
    (None, (), ".faasignore"),
    (".funcignore", (), ".funcignore"),
    (".gcloudignore", (), ".gcloudignore"),
    (".gcloudignore", (".gcloudignore", ".git", ".gitignore", "#!include:.gitignore"), ".gitignore"),
]


@pytest.mark.parametrize(("provider_file", "defaults", "link"), IGNORE_FILES)
def test_an_ignore_file_that_links_out_of_the_source_is_refused_unread(tmp_path, provider_file, defaults, link):
    source = make_tree(tmp_path)
    outside = tmp_path / "outside-rules"
    outside.write_text("app.py\n")
    os.symlink(outside, source / link)
    with pytest.raises(InputError) as error:
        build(source, tmp_path, provider_ignore_file=provider_file, default_ignores=defaults)
    messages = [p.message for p in error.value.problems]
    assert len(messages) == 1 and repr(link) in messages[0] and "outside the source" in messages[0], messages


def test_an_include_that_leaves_the_source_is_refused(tmp_path):
    source = make_tree(tmp_path)
    (tmp_path / "shared-rules").write_text("app.py\n")
    (source / ".gcloudignore").write_text("run.sh\n#!include:../shared-rules\n")
    with pytest.raises(InputError, match="shared-rules"):
        build(source, tmp_path, provider_ignore_file=".gcloudignore")


@pytest.mark.parametrize("provider_file", [None, ".gcloudignore"])
def test_an_ignore_line_that_is_not_a_pattern_is_an_input_error_naming_it(tmp_path, provider_file):
    source = make_tree(tmp_path)
    (source / "rules").write_text("*.md\n[z-a]\n")
    ignore_file = provider_file or ".faasignore"
    (source / ignore_file).write_text("run.sh\n!\n#!include:rules\n")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError) as error:  # not pathspec's ValueError or re.error: that would be exit 2
        package.build(source, tmp_path / "elsewhere", provider_ignore_file=provider_file, out_dir=out)
    messages = [p.message for p in error.value.problems]
    assert len(messages) == 2, messages
    assert f"{ignore_file!r}, line 2: '!'" in messages[0] and "'rules', line 2: '[z-a]'" in messages[1], messages
    assert list(out.iterdir()) == []


def test_an_ignore_file_linked_inside_the_source_is_read(tmp_path):
    source = make_tree(tmp_path)
    (source / "pkg" / "rules").write_text("run.sh\n")
    os.symlink("pkg/rules", source / ".faasignore")
    assert "run.sh" not in names(build(source, tmp_path))


SECRETS = {
    ".env": "TOKEN=abc\n",
    ".env.production": "TOKEN=abc\n",
    "config/server.key": "key\n",
    "config/tls.pem": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    "keys/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    "keys/id_rsa.pub": "ssh-rsa AAAA\n",  # issue 10 says id_rsa*: where the public half is, the private one often is
    ".npmrc": "//registry.npmjs.org/:_authToken=abc\n",
    ".pypirc": "[pypi]\npassword = abc\n",
    "credentials.json": "{}",
    ".aws/config": "[default]\n",
}
HARMLESS = {
    ".env.example": "TOKEN=\n",
    "certifi/cacert.pem": "-----BEGIN CERTIFICATE-----\nMIIF\n-----END CERTIFICATE-----\n",
    "environment.py": "x = 1\n",
}


def test_likely_secrets_are_packaged_with_a_warning_that_names_them(tmp_path):
    source = make_tree(tmp_path)
    for name, content in {**SECRETS, **HARMLESS}.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(content)
    artifact = build(source, tmp_path, provider_ignore_file=".funcignore")
    assert set(SECRETS) | set(HARMLESS) <= set(names(artifact))  # a warning, never a refusal
    assert len(artifact.warnings) == 1
    warning = artifact.warnings[0]
    for name in SECRETS:
        assert repr(name) in warning, name
    for name in HARMLESS:
        assert repr(name) not in warning, name
    assert "`.faasignore`" in warning
    (source / ".funcignore").write_text("*.md\n")  # the ignore file in use is the one to edit
    assert "`.funcignore`" in build(source, tmp_path, provider_ignore_file=".funcignore").warnings[0]
    (source / ".faasignore").write_text("\n".join(SECRETS) + "\n")
    assert build(source, tmp_path, provider_ignore_file=".funcignore").warnings == ()


def test_a_tree_without_secrets_has_no_warning(tmp_path):
    assert build(make_tree(tmp_path), tmp_path).warnings == ()


def zip_with(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


def test_describe_a_prebuilt_zip(tmp_path):
    path = zip_with(tmp_path / "ok.zip", {"app.py": b"x = 1\n", "lib/": b"", "lib/a.py": b"y = 2\n", ".env": b"A=1\n"})
    artifact = package.describe(path)
    assert artifact.file_count == 2 + 1 and artifact.unzipped_size == 6 + 6 + 4
    assert len(artifact.warnings) == 1 and "'.env'" in artifact.warnings[0]


def test_a_corrupt_central_directory_is_an_input_error(tmp_path):
    path = zip_with(tmp_path / "bad.zip", {"app.py": b"x = 1\n" * 100})
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central : central + 4] = b"XXXX"  # the end record is intact: is_zipfile() says yes
    path.write_bytes(bytes(data))
    assert zipfile.is_zipfile(path)
    with pytest.raises(InputError) as error:
        package.describe(path)
    assert [p.field for p in error.value.problems] == ["package"]
    assert "not a readable zip archive" in error.value.problems[0].message


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_LZMA], ids=["deflate", "lzma"])
def test_a_pem_member_with_corrupt_data_is_an_input_error(tmp_path, method):
    """describe reads a `.pem` member to tell a certificate bundle from a key: corrupt compressed
    data there raises zlib.error or lzma.LZMAError, which must not escape (exit 2)."""
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("tls.pem"), b"-----BEGIN CERTIFICATE-----\n" + bytes(range(256)) * 64, compress_type=method)
        archive.writestr(zipfile.ZipInfo("app.py"), b"x = 1\n")
    data = bytearray(path.read_bytes())
    start = 30 + len("tls.pem") + 20  # inside the member's compressed data
    data[start : start + 40] = bytes(b ^ 0xFF for b in data[start : start + 40])
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="not a readable zip archive"):
        package.describe(path)


def test_a_file_that_is_not_a_zip_is_an_input_error(tmp_path):
    (tmp_path / "notes.zip").write_text("not a zip\n")
    with pytest.raises(InputError, match="not a readable zip archive"):
        package.describe(tmp_path / "notes.zip")


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/x", "C:/x", "C:x", "..\\x", "a\\..\\..\\x", "\\etc\\x"])
def test_an_entry_that_unpacks_outside_its_folder_is_an_input_error(tmp_path, name):
    path = zip_with(tmp_path / "slip.zip", {"app.py": b"x = 1\n", name: b"owned\n"})
    with pytest.raises(InputError) as error:
        package.describe(path)
    assert len(error.value.problems) == 1 and quoted(name) in error.value.problems[0].message


@pytest.mark.parametrize("entries", [{}, {"lib/": b"", "lib/sub/": b""}])
def test_a_zip_without_files_is_an_input_error(tmp_path, entries):
    with pytest.raises(InputError, match="holds no files"):
        package.describe(zip_with(tmp_path / "empty.zip", entries))
