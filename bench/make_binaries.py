#!/usr/bin/env python3
"""Generate the binaries tree the packaging benchmark zips: binaries with long-range redundancy.

Owns: the shape of that input (160 files, about 130 MB, fixed seed): native-library-like
files (an ELF-shaped header, then blocks of 1-8 KiB, of which some repeat an earlier block 2 to
30 KiB back: within deflate's reach of 32 KiB, but further than any 1 KiB slice sees), data files
with more repetition, compressed assets (random bytes: nothing to gain), and files whose blocks
repeat only more than 40 KiB back (beyond deflate's reach: it saves 1-4% on them, from the rare
copies of one distant block that land close together). The same seed always gives the same bytes.
Must not: time anything, or write outside its output folder (default `bench/tree-binaries/`,
gitignored).

    .venv/bin/python bench/make_binaries.py [--out bench/tree-binaries] [--seed 2024] [--force]
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sys
from pathlib import Path

from make_tree import command_line, ensure_generated

GENERATOR_VERSION = 1
DEFAULT_SEED = 2024
DEFAULT_OUT = Path(__file__).resolve().parent / "tree-binaries"
FILES = 160
KINDS = {  # kind: (weight, share of blocks that repeat an earlier one, within deflate's reach)
    "lib": (0.50, 0.45, True),
    "data": (0.25, 0.60, True),
    "asset": (0.15, 0.0, True),
    "far": (0.10, 0.50, False),
}
WINDOW = 32 << 10  # deflate's reach


def body(rng: random.Random, size: int, repeat: float, near: bool) -> bytes:
    """Blocks of 1-8 KiB: fresh random bytes, or (with probability `repeat`) a copy of earlier
    bytes from 2-30 KiB back (`near`) or from more than 40 KiB back (beyond deflate's reach)."""
    data = bytearray(rng.randbytes(min(size, 4096)))
    while len(data) < size:
        length = rng.randint(1024, 8192)
        if rng.random() < repeat:
            if near and len(data) > length + 2048:
                distance = rng.randint(length + 1024, min(WINDOW - 2048, len(data)))
                data += data[len(data) - distance : len(data) - distance + length]
                continue
            if not near and len(data) > (40 << 10) + length:
                distance = rng.randint(40 << 10, len(data))
                data += data[len(data) - distance : len(data) - distance + length]
                continue
        data += rng.randbytes(length)
    return bytes(data[:size])


def generate(out: Path, seed: int) -> dict:
    rng = random.Random(f"{seed}:binaries")
    files: dict[str, bytes] = {}
    names = list(KINDS)
    weights = [KINDS[k][0] for k in names]
    for index in range(FILES):
        size = int(min(6 << 20, max(8 << 10, rng.lognormvariate(12.5, 1.3))))
        kind = rng.choices(names, weights)[0]
        _, repeat, near = KINDS[kind]
        data = body(rng, size, repeat, near)
        if kind == "lib":
            data = b"\x7fELF\x02\x01\x01" + bytes(57) + data[64:]
            name = f"lib/lib{index:03d}.cpython-311-x86_64-linux-gnu.so"
        else:
            name = f"{kind}/{kind}_{index:03d}.bin"
        files[name] = data
    if out.exists():
        shutil.rmtree(out)
    src = out / "src"
    listing = hashlib.sha256()
    for name, data in sorted(files.items()):
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        listing.update(f"{name}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    manifest = {"generator": GENERATOR_VERSION, "seed": seed, "files": len(files),
                "bytes": sum(map(len, files.values())), "content_sha256": listing.hexdigest()}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def ensure(out: Path = DEFAULT_OUT, seed: int = DEFAULT_SEED, force: bool = False) -> tuple[Path, dict]:
    """The tree's folder and manifest, generating it unless an identical one exists."""
    return ensure_generated(out, seed, force, GENERATOR_VERSION, generate)


def main(argv: list[str] | None = None) -> int:
    return command_line(argv, __doc__, DEFAULT_OUT, DEFAULT_SEED, ensure)


if __name__ == "__main__":
    sys.exit(main())
