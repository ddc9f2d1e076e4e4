"""Faults a fake HTTP server injects into its own replies: scripted (the next `times` requests
whose path contains a fragment) or drawn at random (a seeded share of all requests).

Kinds: an HTTP error answered before the request is acted on ("500", "502-html", "503", "429",
"429-long" with a Retry-After of an hour, "409"); "reset-before" (the connection closed before
acting); "reset-after" (acted on, the reply lost); "slow" (acted on, answered late); "truncated"
(acted on, the reply cut short of its Content-Length); "not-json" (acted on, answered 200 with
an HTML page instead of its JSON).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Callable

BEFORE = ("500", "502-html", "503", "429", "429-long", "409", "reset-before")
AFTER = ("reset-after", "slow", "truncated", "not-json")
KINDS = BEFORE + AFTER
HTML = b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Chaos:
    """What to inject; `injected` records (kind, method, path) of every fault served."""

    error_body: Callable[[int], bytes]  # the service's JSON error for a status
    slow_s: float = 0.3
    scripted: list[list] = field(default_factory=list)  # [method, fragment, kind, remaining]
    rate: float = 0.0
    kinds: tuple[str, ...] = KINDS
    skip: tuple[str, ...] = ()  # path fragments never faulted at random (token endpoints)
    rng: random.Random = field(default_factory=random.Random)
    injected: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, method: str, fragment: str, kind: str, times: int = 1) -> None:
        assert kind in KINDS, kind
        with self.lock:
            self.scripted.append([method, fragment, kind, times])

    def randomly(self, rate: float, seed: int, kinds: tuple[str, ...] = KINDS) -> None:
        with self.lock:
            self.rate, self.rng, self.kinds = rate, random.Random(seed), kinds

    def draw(self, method: str, path: str) -> str | None:
        with self.lock:
            kind = None
            for entry in self.scripted:
                if entry[3] > 0 and entry[0] == method and entry[1] in path:
                    entry[3] -= 1
                    kind = entry[2]
                    break
            if kind is None and self.rate and not any(s in path for s in self.skip) and self.rng.random() < self.rate:
                kinds = [k for k in self.kinds if k != "409" or method != "GET"]
                kind = self.rng.choice(kinds)
            if kind:
                self.injected.append((kind, method, path))
            return kind

    def serve(self, handler: BaseHTTPRequestHandler, kind: str | None, act: Callable[[], Reply]) -> None:
        """Answer `handler`'s request: act on it (or not) and send the reply `kind` calls for."""
        if kind == "reset-before":
            return _close(handler)
        if kind in ("500", "503", "429", "409"):
            status = int(kind)
            headers = {"Content-Type": "application/json", "Retry-After": "1"} if status in (429, 503) else {}
            return _send(handler, status, headers or {"Content-Type": "application/json"}, self.error_body(status))
        if kind == "429-long":
            return _send(handler, 429, {"Content-Type": "application/json", "Retry-After": "3600"}, self.error_body(429))
        if kind == "502-html":
            return _send(handler, 502, {"Content-Type": "text/html"}, HTML)
        status, headers, body = act()
        if kind == "reset-after":
            return _close(handler)
        if kind == "slow":
            time.sleep(self.slow_s)
        if kind == "not-json" and 200 <= status < 300:
            return _send(handler, 200, {"Content-Type": "text/html"}, HTML)
        if kind == "truncated" and len(body) > 1:
            return _send(handler, status, headers, body[: len(body) // 2], length=len(body))
        return _send(handler, status, headers, body)


def _close(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True


def _send(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes, length: int | None = None) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        if name.lower() != "content-length":
            handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    handler.end_headers()
    handler.wfile.write(body)
    if length is not None and length != len(body):
        handler.wfile.flush()
        handler.close_connection = True
