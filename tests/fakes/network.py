"""Unreachable endpoints for tests: a port where nothing listens (connections are refused at once)
and a blackhole (connections are accepted by the kernel, requests are never answered)."""

from __future__ import annotations

import socket


def closed_port_url() -> str:
    """http://127.0.0.1:<port> where nothing listens: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Blackhole:
    """A listening socket that is never accepted from: the kernel completes each connection
    (up to the backlog) and the request waits for an answer that never comes."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Blackhole":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
