#!/usr/bin/env python3
"""Generate the packaging benchmark's generated tree: a fixed-seed stand-in for a real function.

Owns: the shape of that input (about 10,000 files and 210 MB): application source, a vendored
dependency tree of many small `.py` files with their `.dist-info` folders, JSON and CSV data files
(the biggest 20 MB: held whole, under the packager's 32 MiB streaming threshold), and
incompressible binaries shaped like `.so` extension modules. It also holds the shared generator
plumbing (`ensure_generated`, `command_line`) that make_binaries.py uses. The same seed always gives the same bytes, names and modes.
Must not: time anything, or write outside its output folder (default `bench/tree/`, gitignored).

    .venv/bin/python bench/make_tree.py [--out bench/tree] [--seed 2024] [--force]

The function's files go to `<out>/src/`; `<out>/manifest.json` records seed, version, file count
and size, so a second call with the same settings returns at once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import string
import sys
from pathlib import Path
from typing import Callable

GENERATOR_VERSION = 1
DEFAULT_SEED = 2024
DEFAULT_OUT = Path(__file__).resolve().parent / "tree"

# Shape of the tree. Sizes in bytes; the totals land near 10,000 files and 200 MB.
VENDOR_PACKAGES = 48
VENDOR_PY_FILES = 8_700
PY_MEDIAN_BYTES = 7_000
APP_PY_FILES = 140
BINARY_BYTES = 50_000_000  # incompressible `.so`-like files
BINARY_FILES = 24
CSV_BYTES = (20_000_000, 3_000_000, 2_000_000)
JSON_BYTES = (6_000_000, 2_500_000, 1_000_000, 400_000)

WORDS = (
    "the of and to in is for that on with as by this be are from or it an at not which value "
    "return result request response client config option default error message name path file "
    "data list dict item key index count size type field model user session token cache state "
    "object class method function module package import handler event context record stream "
    "buffer chunk bytes string number boolean none true false update create delete read write "
    "open close start stop wait retry timeout limit offset parse format encode decode validate "
    "check raise exception warning debug info log level time date region service resource "
    "account access policy role permission query filter order group sort page next previous"
).split()


def rng_for(seed: int, part: str) -> random.Random:
    """One generator per part of the tree, so changing one part leaves the others' bytes alone."""
    return random.Random(f"{seed}:{part}")


class Vocabulary:
    """Identifiers with a Zipf-like frequency, as real code reuses a few names a lot."""

    def __init__(self, rng: random.Random, size: int = 4_000) -> None:
        syllables = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 4))) for _ in range(300)]
        names = set()
        while len(names) < size:
            parts = [rng.choice(WORDS) if rng.random() < 0.6 else rng.choice(syllables) for _ in range(rng.randint(1, 3))]
            names.add("_".join(parts))
        self.names = sorted(names)
        self.weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(self.names))]
        rng.shuffle(self.names)

    def pick(self, rng: random.Random, k: int = 1) -> list[str]:
        return rng.choices(self.names, weights=self.weights, k=k)


def sentence(rng: random.Random, low: int = 5, high: int = 14) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize() + "."


LOCAL_NAMES = 16  # placeholders a block template may use; each file binds them to its own names

STATEMENTS = (
    "{a} = {b}.get({s!r}, {c})",
    "{a} = self.{b}({c}, {d})",
    "self.{a} = {b}",
    "self._{a} = {a}",
    "{a} = [{b} for {b} in {c} if {b} is not None]",
    "{a}[{s!r}] = {b}",
    "{a}.append({b}.{c})",
    "logger.debug({s!r}, {a}, {b})",
    "{a} = {b}({c}={c}, {d}={d}, {e}={e})",
    "return {a}",
    "raise {E}({s!r} % ({a},))",
    "{a} = os.path.join({b}, {s!r})",
    "{a} += len({b})",
    "{a}, {b} = {c}.{d}()",
)
IDIOMS = (
    "if not isinstance({a}, {F}):\n    raise TypeError(\"{a} must be {F}, not %s\" % type({a}).__name__)",
    "if {a} is None:\n    {a} = {b}",
    "try:\n    {a} = {b}[{s!r}]\nexcept KeyError:\n    {a} = None",
    "for {a} in {b}:\n    if {a}.{c} == {d}:\n        return {a}",
    "with {a}.lock:\n    self._{b} = {c}",
)
OPENERS = (
    "if {a} is None:",
    "if not {a}:",
    "if {a} == {s!r}:",
    "for {a} in {b}:",
    "for {a}, {b} in {c}.items():",
    "with {a}({b}) as {c}:",
    "while {a} < {b}:",
)


def block_template(rng: random.Random, phrases: list[str]) -> str:
    """A function or class with `{0}`..`{15}` holes for names; files bind the holes to their names.

    Shaped after library code: docstrings with parameter sections, stock idioms, prose drawn
    from a pool of phrases (real comments repeat themselves), so it deflates like real Python."""
    holes = [f"{{{i}}}" for i in range(LOCAL_NAMES)]
    weights = [1.0 / (i + 1) for i in range(LOCAL_NAMES)]
    phrase_weights = [1.0 / (i + 1) for i in range(len(phrases))]

    def hole() -> str:
        return rng.choices(holes, weights=weights)[0]

    def phrase() -> str:
        return rng.choices(phrases, weights=phrase_weights)[0]

    def fill(pattern: str) -> str:
        names = {k: hole() for k in "abcde"}
        names["E"] = rng.choice(["ValueError", "KeyError", "TypeError", "RuntimeError"])
        names["F"] = rng.choice(["str", "bytes", "int", "dict"])
        names["s"] = "_".join(rng.choices(WORDS[:40], k=rng.randint(1, 2)))
        return pattern.format(**names)

    def function(indent: str, method: bool) -> list[str]:
        args = list(dict.fromkeys(hole() for _ in range(rng.randint(0, 4))))
        params = (["self"] if method else []) + [f"{a}: {rng.choice(['str', 'int', 'Optional[str]', 'bool'])} = None" if rng.random() < 0.3 else a for a in args]
        lines = [f"{indent}def {hole()}({', '.join(params)}):", f'{indent}    """{phrase()}', ""]
        if rng.random() < 0.5:
            lines += [f"{indent}    {phrase()} {phrase()}", ""]
        for arg in args:
            kind = rng.choice(["str", "int", "bool", "list[str]"])
            lines += [f"{indent}    :param {arg}: {phrase()}", f"{indent}    :type {arg}: {kind}"]
        lines += [f"{indent}    :return: {phrase()}", f"{indent}    :rtype: {rng.choice(['str', 'dict', 'None'])}", f'{indent}    """']
        depth = 1
        for _ in range(rng.randint(3, 14)):
            pad = indent + "    " * depth
            roll = rng.random()
            if roll < 0.15 and depth < 4:
                lines.append(pad + fill(rng.choice(OPENERS)))
                depth += 1
                lines.append(indent + "    " * depth + fill(rng.choice(STATEMENTS)))
            elif roll < 0.25 and depth > 1:
                depth -= 1
            elif roll < 0.33:
                lines.append(f"{pad}# {phrase()}")
            elif roll < 0.45:
                lines += [pad + line for line in fill(rng.choice(IDIOMS)).split("\n")]
            else:
                lines.append(pad + fill(rng.choice(STATEMENTS)))
        lines.append(f"{indent}    return {hole()}")
        return lines

    if rng.random() < 0.3:
        lines = [f"class {hole()}({rng.choice(['object', 'Exception', 'Base', 'Mapping'])}):", f'    """{phrase()}"""', ""]
        for _ in range(rng.randint(1, 5)):
            lines += function("    ", method=True) + [""]
    else:
        lines = function("", method=False)
    return "\n".join(lines) + "\n\n\n"  # no literal braces anywhere but the holes


def python_file(rng: random.Random, vocab: Vocabulary, pool: list[str], target: int) -> bytes:
    """A module: docstring, imports, then blocks whose holes are bound to this file's own names."""
    names = vocab.pick(rng, LOCAL_NAMES)
    header = [f'"""{sentence(rng)}', "", sentence(rng, 10, 20), '"""', "", "from __future__ import annotations", "", "import logging", "import os"]
    for module in vocab.pick(rng, rng.randint(1, 6)):
        header.append(f"import {module}" if rng.random() < 0.5 else f"from .{module} import {', '.join(rng.sample(names, 2))}")
    header += ["", "logger = logging.getLogger(__name__)"]
    parts = ["\n".join(header) + "\n\n\n"]
    size = len(parts[0])
    while size < target:
        block = rng.choice(pool).format(*names)
        parts.append(block)
        size += len(block)
    return "".join(parts).encode()


def lognormal_size(rng: random.Random, median: int, sigma: float = 1.0, low: int = 40, high: int = 400_000) -> int:
    return int(min(high, max(low, median * math.exp(rng.gauss(0, sigma)))))


def binary(rng: random.Random, size: int) -> bytes:
    """An ELF-shaped header and string table, then random bytes: a stripped extension module."""
    head = b"\x7fELF\x02\x01\x01" + bytes(57) + b"".join(w.encode() + b"\0" for w in rng.choices(WORDS, k=300))
    head = head[: min(len(head), size // 8)]
    return head + rng.randbytes(size - len(head))


def csv_file(rng: random.Random, target: int) -> bytes:
    regions = ["eu-west-1", "us-east-1", "us-west-2", "ap-south-1", "sa-east-1"]
    rows = ["id,timestamp,region,account,latency_ms,bytes,status,label"]
    size = len(rows[0])
    index = 0
    while size < target:
        index += 1
        row = (
            f"{index},2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z,{rng.choice(regions)},{rng.randint(10**11, 10**12 - 1)},"
            f"{rng.lognormvariate(3, 1):.3f},{rng.randint(0, 10**7)},{rng.choice(['ok', 'ok', 'ok', 'error', 'throttled'])},"
            f"{rng.choice(WORDS)}_{rng.choice(WORDS)}"
        )
        rows.append(row)
        size += len(row) + 1
    return ("\n".join(rows) + "\n").encode()


def json_file(rng: random.Random, vocab: Vocabulary, target: int) -> bytes:
    records = []
    size = 0
    while size < target:
        record = {
            "id": rng.randint(1, 10**9),
            "name": " ".join(vocab.pick(rng, 2)),
            "enabled": rng.random() < 0.8,
            "score": round(rng.random() * 100, 4),
            "tags": vocab.pick(rng, rng.randint(0, 4)),
            "description": sentence(rng),
        }
        records.append(record)
        size += 170
    return json.dumps({"version": 3, "records": records}, indent=2).encode()


def generate(out: Path, seed: int) -> dict:
    """Write the tree under `out/src`; return its manifest."""
    src = out / "src"
    files: dict[str, tuple[bytes, int]] = {}

    def add(name: str, data: bytes, mode: int = 0o644) -> None:
        files[name] = (data, mode)

    rng = rng_for(seed, "vocabulary")
    vocab = Vocabulary(rng)
    pool_rng = rng_for(seed, "blocks")
    phrases = [sentence(pool_rng, 3, 12) for _ in range(1_500)]
    pool = [block_template(pool_rng, phrases) for _ in range(4_000)]

    # Application source, a bootstrap script and a few templates.
    rng = rng_for(seed, "app")
    add("bootstrap", b"#!/bin/sh\nset -eu\nexec python3 -m app.main \"$@\"\n", 0o755)
    add("app/__init__.py", b"")
    for index in range(APP_PY_FILES):
        add(f"app/{vocab.pick(rng)[0]}_{index}.py", python_file(rng, vocab, pool, lognormal_size(rng, 9_000, 0.7)))
    for index in range(40):
        body = "\n".join(f"<p class=\"{vocab.pick(rng)[0]}\">{{{{ {vocab.pick(rng)[0]} }}}} {sentence(rng)}</p>" for _ in range(rng.randint(20, 200)))
        add(f"app/templates/page_{index}.html", f"<!doctype html>\n<html><body>\n{body}\n</body></html>\n".encode())
    for index in range(6):
        add(f"app/bin/tool_{index}", b"#!/usr/bin/env python3\n" + python_file(rng, vocab, pool, 2_000), 0o755)

    # Vendored dependencies: many small modules, stubs, markers and metadata.
    rng = rng_for(seed, "vendor")
    packages = sorted({vocab.pick(rng)[0].replace("_", "")[:14] or f"pkg{i}" for i in range(VENDOR_PACKAGES * 2)})[:VENDOR_PACKAGES]
    shares = [rng.paretovariate(1.2) for _ in packages]
    total_share = sum(shares)
    for package, share in zip(packages, shares, strict=True):
        count = max(3, int(VENDOR_PY_FILES * share / total_share))
        dirs = [package] + [f"{package}/{'/'.join(vocab.pick(rng, rng.randint(1, 3)))}" for _ in range(max(1, count // 25))]
        for directory in dirs:
            add(f"vendor/{directory}/__init__.py", b"" if rng.random() < 0.4 else python_file(rng, vocab, pool, 300))
        for index in range(count):
            directory = rng.choice(dirs)
            module = f"vendor/{directory}/{vocab.pick(rng)[0]}_{index}"
            add(module + ".py", python_file(rng, vocab, pool, lognormal_size(rng, PY_MEDIAN_BYTES)))
            if rng.random() < 0.05:
                add(module + ".pyi", python_file(rng, vocab, pool, lognormal_size(rng, 1_500)))
        add(f"vendor/{package}/py.typed", b"")
        info = f"vendor/{package}-{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}.dist-info"
        add(f"{info}/METADATA", ("\n".join(f"Classifier: {sentence(rng, 2, 5)}" for _ in range(30)) + "\n\n" + "\n".join(sentence(rng) for _ in range(60))).encode())
        add(f"{info}/LICENSE", ("\n".join(sentence(rng, 10, 20) for _ in range(40))).encode())
        add(f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: bdist_wheel\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n")
        add(f"{info}/top_level.txt", package.encode() + b"\n")
        listing = [f"{name[len('vendor/'):]},sha256={hashlib.sha256(name.encode()).hexdigest()[:43]},{len(files[name][0])}" for name in files if name.startswith(f"vendor/{package}/")]
        add(f"{info}/RECORD", ("\n".join(listing) + "\n").encode())

    # Incompressible binaries: extension modules with a skewed size distribution.
    rng = rng_for(seed, "binaries")
    weights = [rng.paretovariate(1.0) for _ in range(BINARY_FILES)]
    for index, weight in enumerate(weights):
        package = packages[index % len(packages)]
        size = max(20_000, int(BINARY_BYTES * weight / sum(weights)))
        add(f"vendor/{package}/_speedups{index}.cpython-311-x86_64-linux-gnu.so", binary(rng, size), 0o755)
    for index in range(30):
        add(f"app/static/img_{index}.png", b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(2_000, 60_000)))

    # Data files: CSV and JSON.
    rng = rng_for(seed, "data")
    for index, size in enumerate(CSV_BYTES):
        add(f"data/metrics_{index}.csv", csv_file(rng, size))
    for index, size in enumerate(JSON_BYTES):
        add(f"data/catalog_{index}.json", json_file(rng, vocab, size))

    if out.exists():
        shutil.rmtree(out)
    for name, (data, mode) in sorted(files.items()):
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)
    listing = hashlib.sha256()
    for name, (data, mode) in sorted(files.items()):
        listing.update(f"{name}\0{mode:o}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    manifest = {
        "generator": GENERATOR_VERSION,
        "seed": seed,
        "files": len(files),
        "bytes": sum(len(data) for data, _ in files.values()),
        "content_sha256": listing.hexdigest(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def ensure(out: Path = DEFAULT_OUT, seed: int = DEFAULT_SEED, force: bool = False) -> tuple[Path, dict]:
    """The tree's source folder and manifest, generating it unless an identical one exists."""
    return ensure_generated(out, seed, force, GENERATOR_VERSION, generate)


def ensure_generated(out: Path, seed: int, force: bool, version: int, generate: Callable[[Path, int], dict]) -> tuple[Path, dict]:
    """`out/src` and its manifest, from `generate(out, seed)` unless the manifest says that this
    generator `version` already wrote it with this seed (shared with make_binaries.py)."""
    stamp = out / "manifest.json"
    if not force and stamp.is_file():
        manifest = json.loads(stamp.read_text())
        if manifest.get("generator") == version and manifest.get("seed") == seed and (out / "src").is_dir():
            return out / "src", manifest
    return out / "src", generate(out, seed)


def command_line(argv: list[str] | None, doc: str, default_out: Path, default_seed: int,
                 ensure: Callable[[Path, int, bool], tuple[Path, dict]]) -> int:
    """The generators' shared command line: `--out`, `--seed`, `--force`; prints what is there."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--seed", type=int, default=default_seed)
    parser.add_argument("--force", action="store_true", help="regenerate even if the manifest matches")
    args = parser.parse_args(argv)
    src, manifest = ensure(args.out, args.seed, args.force)
    print(f"{src}: {manifest['files']} files, {manifest['bytes'] / 1e6:.1f} MB, content {manifest['content_sha256'][:16]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_line(argv, __doc__, DEFAULT_OUT, DEFAULT_SEED, ensure)


if __name__ == "__main__":
    sys.exit(main())
