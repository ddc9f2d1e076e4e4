"""Shared pieces of the benchmark: timed samples, medians, the machine description, Markdown.

Owns: how a measurement is recorded (every round's value, or why it failed) and summarised
(median), and how tables are laid out.
Must not: measure anything itself or assert correctness (the test suite does that).
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Series:
    """One figure over several rounds: seconds (or any number), or the reason a round failed."""

    values: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    def record(self, function: Callable[[], float | None]) -> None:
        """Run one round; a None or an exception counts as a failure, never stops the benchmark."""
        try:
            value = function()
        except Exception as exc:  # a round that fails is reported, not fatal
            self.failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            return
        if value is None:
            self.failures.append("no value")
        else:
            self.values.append(value)


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def run(command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """A subprocess that must succeed within `timeout` seconds (raises otherwise)."""
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {proc.returncode}: {(proc.stderr or proc.stdout)[-400:]}")
    return proc


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "failed" if value is None else f"{value:.{digits}f}{suffix}"


def ratio(value: float | None, reference: float | None, digits: int = 2) -> str:
    if value is None or not reference:
        return "-"
    return f"{value / reference:.{digits}f}x"


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, str]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError):
        memory = "?"
    return {
        "CPU": model,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
