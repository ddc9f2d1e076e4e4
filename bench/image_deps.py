#!/usr/bin/env python3
"""The image's runtime dependencies: what the build downloads, how long uv takes to install them
from uv.lock (no dev group) with a cold and a warm cache, and how large they are installed, with
and without the bytecode the Dockerfile compiles.

    .venv/bin/python bench/image_deps.py --rounds 3
    .venv/bin/python bench/image_deps.py --compare OLD_UV_LOCK   # what left or joined the runtime set

Owns: the download size per architecture read from uv.lock (the wheel uv picks for CPython 3.11
on manylinux x86_64 / aarch64, with the sizes the lock records), a check of that figure against a
real download (pip, this machine's platform), and the install rounds: `uv sync --frozen --no-dev
--no-install-project` into a fresh venv under bench/out/image, as the Dockerfile's build stage runs
it, then `python -m compileall --invalidation-mode unchecked-hash` as the Dockerfile does; and,
with `--compare`, the runtime packages that differ between another uv.lock and this one, with
their wheel sizes (no download, no install).
Must not: touch the project's .venv or read this machine's pip/uv configuration (both tools use
PyPI directly), or write docs/benchmarks.md (the figures are pasted by hand into its notes).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, ROOT, Series, fmt, run, table, timed  # noqa: E402
from install_bench import base_python, clean_env, site_packages, tree_size  # noqa: E402
from packaging.tags import Tag, compatible_tags, cpython_tags  # noqa: E402
from packaging.utils import parse_wheel_filename  # noqa: E402

MANYLINUX = {
    "x86_64": [f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)] + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"],
    "aarch64": [f"manylinux_2_{minor}_aarch64" for minor in range(36, 16, -1)] + ["manylinux2014_aarch64", "linux_aarch64"],
}


def runtime_packages(lock_file: Path = ROOT / "uv.lock") -> list[dict]:
    """The lock's packages that the project needs at run time (no dev group), as uv installs them."""
    lock = tomllib.loads(lock_file.read_text())
    packages = {p["name"]: p for p in lock["package"]}
    project = next(p for p in lock["package"] if p.get("source", {}).get("virtual") == ".")
    wanted: set[str] = set()
    stack = list(project.get("dependencies", []))
    while stack:
        dependency = stack.pop()
        name = dependency["name"]
        package = packages[name]
        # A dependency with extras (google-api-core[grpc]) brings the extras' packages too.
        for extra in dependency.get("extra", []):
            stack += package.get("optional-dependencies", {}).get(extra, [])
        if name not in wanted:
            wanted.add(name)
            stack += package.get("dependencies", [])
    return [packages[name] for name in sorted(wanted)]


def wheel_sizes(arch: str, lock_file: Path = ROOT / "uv.lock") -> dict[str, tuple[str, int | None]]:
    """{package: (version, bytes of the wheel uv picks, None without one)} for CPython 3.11 on
    glibc Linux `arch`, from the sizes the lock records."""
    tags: list[Tag] = list(cpython_tags((3, 11), platforms=MANYLINUX[arch])) + list(compatible_tags((3, 11), "cp311", MANYLINUX[arch]))
    rank = {tag: index for index, tag in enumerate(tags)}
    sizes: dict[str, tuple[str, int | None]] = {}
    for package in runtime_packages(lock_file):
        best = None
        for wheel in package.get("wheels", []):
            filename = wheel["url"].rsplit("/", 1)[-1]
            score = min((rank[t] for t in parse_wheel_filename(filename)[3] if t in rank), default=None)
            if score is not None and (best is None or score < best[0]):
                best = (score, wheel["size"])
        sizes[package["name"]] = (package.get("version", "?"), best[1] if best else None)
    return sizes


def download_bytes(arch: str) -> tuple[int, int, list[str]]:
    """(bytes, wheels, packages without a wheel) for CPython 3.11 on glibc Linux `arch`."""
    sizes = wheel_sizes(arch)
    missing = [name for name, (_, size) in sizes.items() if size is None]
    return sum(size or 0 for _, size in sizes.values()), len(sizes) - len(missing), missing


def compare(old_lock: Path) -> str:
    """The runtime packages only one of the two locks has, with their linux/amd64 wheel sizes."""
    old, new = wheel_sizes("x86_64", old_lock), wheel_sizes("x86_64")
    rows = []
    for name in sorted(set(old) ^ set(new), key=lambda n: -((old.get(n) or new.get(n))[1] or 0)):
        version, size = old.get(name) or new[name]
        rows.append([name, version, "left" if name in old else "joined", fmt((size or 0) / 1e6, 2)])
    total_old, total_new = sum(s or 0 for _, s in old.values()), sum(s or 0 for _, s in new.values())
    rows.append(["**runtime wheels in all**", "", f"{len(old)} → {len(new)}", f"{total_old / 1e6:.1f} → {total_new / 1e6:.1f}"])
    return table(["runtime package (linux/amd64 wheel)", "version", "", "MB"], rows)


def pip_download_bytes(scratch: Path) -> int:
    """A real download of the same wheels for this machine, as a check on the lock's figure."""
    requirements = scratch / "requirements.txt"
    run(["uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--format", "requirements-txt", "--output-file", str(requirements)],
        timeout=120, cwd=ROOT, env=clean_env())
    wheels = scratch / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    run([base_python(), "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--require-hashes",
         "-r", str(requirements), "--dest", str(wheels)], timeout=1200, env=clean_env())
    return sum(f.stat().st_size for f in wheels.iterdir())


def sync(project: Path, venv: Path, cache: Path) -> float:
    shutil.rmtree(venv, ignore_errors=True)
    env = clean_env(UV_CACHE_DIR=str(cache), UV_PROJECT_ENVIRONMENT=str(venv), UV_PYTHON=base_python(), UV_PYTHON_DOWNLOADS="never")
    return timed(lambda: run(["uv", "sync", "--project", str(project), "--frozen", "--no-dev", "--no-install-project", "--quiet"],
                             timeout=1800, env=env))


def measure(rounds: int) -> str:
    scratch = OUT / "image"
    shutil.rmtree(scratch, ignore_errors=True)
    project = scratch / "project"
    project.mkdir(parents=True)
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, project / name)
    venv = scratch / "venv"

    downloads = {arch: download_bytes(arch) for arch in MANYLINUX}
    fetched = Series()
    fetched.record(lambda: pip_download_bytes(scratch))

    cold, warm, compiled = Series(), Series(), Series()
    sizes: dict[str, int] = {}
    for index in range(rounds):
        cache = scratch / f"cache-{index}"
        cold.record(lambda: sync(project, venv, cache))
        warm.record(lambda: sync(project, venv, cache))
        sizes["source"] = tree_size(site_packages(venv))
        compiled.record(lambda: timed(lambda: run(
            [str(venv / "bin" / "python"), "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(venv)],
            timeout=600, env=clean_env())))
        sizes["bytecode"] = tree_size(site_packages(venv))
        shutil.rmtree(cache, ignore_errors=True)

    count = downloads["x86_64"][1]
    download_rows = [
        [f"linux/{'amd64' if arch == 'x86_64' else 'arm64'} (from uv.lock: the wheel uv picks, its recorded size)",
         str(wheels), fmt(size / 1e6, 1), ", ".join(missing) or "none"]
        for arch, (size, wheels, missing) in downloads.items()
    ]
    download_rows.append(["this machine, `pip download --require-hashes` of `uv export --no-dev` (a real download)",
                          str(count), fmt(fetched.median / 1e6 if fetched.median else None, 1), "-"])
    install_rows = [
        ["`uv sync --frozen --no-dev --no-install-project`, cold cache (downloads from PyPI)", fmt(cold.median, 1)],
        ["the same, warm cache (fresh venv, wheels already unpacked in the cache)", fmt(warm.median, 1)],
        ["`python -m compileall -j 0 --invalidation-mode unchecked-hash` of the venv", fmt(compiled.median, 1)],
    ]
    size_rows = [
        ["site-packages, sources only", fmt(sizes.get("source", 0) / 1e6, 0)],
        ["site-packages with bytecode (as in the image)", fmt(sizes.get("bytecode", 0) / 1e6, 0)],
    ]
    failed = [f"- {name}: {s.failures[0]}" for name, s in (("download", fetched), ("cold", cold), ("warm", warm), ("compile", compiled)) if s.failures]
    return "\n".join([
        table(["runtime wheels (CPython 3.11, glibc)", "wheels", "MB", "without a wheel"], download_rows),
        "",
        table([f"install into a fresh venv ({rounds} rounds)", "s (median)"], install_rows),
        "",
        table(["installed", "MB"], size_rows),
        *failed,
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="another uv.lock: list the runtime packages that differ, then stop")
    args = parser.parse_args(argv)
    if args.compare:
        print(compare(args.compare))
        return 0
    print(measure(max(1, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
