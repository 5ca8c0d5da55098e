"""A throwaway redis-server on a free loopback port, for the example-database tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server")


@contextmanager
def redis_server(directory: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start redis-server (no persistence, files under ``directory``), wait until it answers,
    yield the process and its ``redis://`` URL; stop it afterwards if it still runs. Skips when
    redis-server is not installed."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    import redis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", str(directory)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        yield server, f"redis://127.0.0.1:{port}"
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=10)
