"""Azurite (the Azure Storage emulator, npm `azurite`) for the run-from-package tests.

Owns: starting `azurite-blob` from the repository's node_modules on 127.0.0.1 with a free port
(read back from its "successfully listens on" line), in memory and without telemetry, and stopping
it at the end of the session.
Must not: skip when Azurite is missing: a missing emulator fails the tests (`npm ci` installs it).

Use: `from tests.azurite import azurite  # noqa: F401` in a test module, then take the `azurite`
fixture; it yields an `Azurite` with the blob endpoint and a connection string.
"""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BLOB = ROOT / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# The well-known development account key, published in the Azurite README.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
LISTENING = re.compile(r"successfully listens on (http://\S+)")
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Azurite:
    blob_endpoint: str  # http://127.0.0.1:<port>/devstoreaccount1

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )


def start_azurite() -> tuple[subprocess.Popen, Azurite]:
    if not AZURITE_BLOB.exists():
        pytest.fail(f"Azurite is not installed ({AZURITE_BLOB} is missing): run `npm ci` in {ROOT}")
    if shutil.which("node") is None:
        pytest.fail("Azurite needs Node.js: `node` is not on PATH")
    process = subprocess.Popen(
        [
            str(AZURITE_BLOB),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--loose",
            "--skipApiVersionCheck",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="azurite-stdout", daemon=True).start()
    seen: list[str] = []
    end = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=max(0.1, end - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if match := LISTENING.search(line):
            return process, Azurite(blob_endpoint=f"{match[1].rstrip('/')}/{ACCOUNT}")
    process.kill()
    pytest.fail("Azurite did not start:\n" + "".join(seen))


@pytest.fixture(scope="session")
def azurite():
    process, server = start_azurite()
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
