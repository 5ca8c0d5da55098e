"""The example databases of `ppcreloc fuzz`: a directory or Redis (hypothesis.extra.redis),
keys namespaced per engine, bounded entries, and one warning when a database goes away."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ppcreloc.errors import UsageError

if TYPE_CHECKING:
    from hypothesis.database import ExampleDatabase


#: examples per Hypothesis run; small, so a --budget deadline is checked often


# -- the example database -------------------------------------------------------------------------
def open_database(spec: str | None) -> ExampleDatabase | None:
    """A Hypothesis ExampleDatabase for ``--database`` (None: no database).

    ``redis://HOST:PORT[/DB]`` -> RedisExampleDatabase (the server must answer a ping);
    anything else is a directory path -> DirectoryBasedExampleDatabase.
    """
    if spec is None:
        return None
    if "://" in spec:
        url = urlparse(spec)
        if url.scheme != "redis":
            raise UsageError(f"unsupported database URL {spec!r} (use redis://HOST:PORT or a path)")
        return _redis_database(url.hostname or "127.0.0.1", url.port or 6379,
                               url.path.strip("/") or "0", spec)
    from hypothesis.database import DirectoryBasedExampleDatabase

    path = Path(spec)
    if path.exists() and not path.is_dir():
        raise UsageError(f"database path {spec} exists and is not a directory")
    return DirectoryBasedExampleDatabase(path)


def _redis_database(host: str, port: int, db: str, spec: str) -> ExampleDatabase:
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError as exc:
        raise UsageError(f"redis database needs the redis package ({exc})") from None
    if not db.isdigit():
        raise UsageError(f"bad redis database number in {spec!r}")
    client = redis.Redis(host=host, port=port, db=int(db), socket_connect_timeout=5,
                         socket_timeout=30)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise UsageError(f"cannot reach redis at {host}:{port}: {exc}") from None
    return RedisExampleDatabase(client)


#: the largest example-database entry a campaign reads (Hypothesis stores a choice sequence of a
#: few KB; anything far larger is not ours): larger entries are skipped
MAX_DB_ENTRY = 1 << 20
#: the most a Redis key (one Hypothesis key's set of entries) may hold before it is read
MAX_DB_KEY = 4 << 20


def _database_errors() -> tuple[type[BaseException], ...]:
    """What a database that went away raises: OSError, and redis-py's errors when installed."""
    try:
        import redis
    except ImportError:
        return (OSError,)
    return (OSError, redis.RedisError)


def warn(message: str) -> None:
    print(f"ppcreloc fuzz: warning: {message}", file=sys.stderr, flush=True)


def namespaced(db: ExampleDatabase, prefix: str) -> ExampleDatabase:
    """``db`` with every key prefixed (so engines and settings do not share failures), entries
    bounded (a key with an entry larger than :data:`MAX_DB_ENTRY` is skipped before it is read
    from a directory or Redis database, any other entry after), and failures survived: the first error (Redis gone, a disk error) prints one
    warning and the campaign goes on without the database; findings are in the fixture
    directory regardless."""
    from hypothesis.database import ExampleDatabase

    errors = _database_errors()

    class Namespaced(ExampleDatabase):
        def __init__(self) -> None:
            super().__init__()
            self.inner, self.prefix = db, prefix.encode()
            self.lost = self.warned = False

        def _guard(self, op: Callable[[], Any], default: Any = None) -> Any:
            if self.lost:
                return default
            try:
                return op()
            except errors as exc:
                self.lost = True
                text = " ".join(str(exc).split()) or type(exc).__name__
                warn(f"example database unavailable ({text}); continuing without it, "
                      "findings are kept in the fixture directory")
                return default

        def _too_big(self, key: bytes) -> bool:
            """A Redis key holding more than :data:`MAX_DB_KEY`, or a directory database file
            larger than :data:`MAX_DB_ENTRY` (both asked before anything is read)."""
            key_path = getattr(self.inner, "_key_path", None)
            if key_path is not None:
                where = Path(key_path(key))
                return where.is_dir() and any(f.stat().st_size > MAX_DB_ENTRY
                                              for f in where.iterdir() if f.is_file())
            client = getattr(self.inner, "redis", None)
            if client is None:
                return False
            import redis

            try:
                used = client.memory_usage(getattr(self.inner, "_prefix", b"") + key)
            except redis.ResponseError:  # a server without MEMORY USAGE: read it
                return False
            return used is not None and int(used) > MAX_DB_KEY

        def _skip(self) -> None:
            if not self.warned:
                self.warned = True
                warn(f"skipped example database entries larger than {MAX_DB_ENTRY} bytes")

        def fetch(self, key: bytes) -> Iterable[bytes]:
            full = self.prefix + key
            if self._guard(lambda: self._too_big(full), False):
                self._skip()
                return []
            values: list[bytes] = self._guard(lambda: list(self.inner.fetch(full)), [])
            kept = [v for v in values if len(v) <= MAX_DB_ENTRY]
            if len(kept) < len(values):
                self._skip()
            return kept

        def save(self, key: bytes, value: bytes) -> None:
            self._guard(lambda: self.inner.save(self.prefix + key, value))

        def delete(self, key: bytes, value: bytes) -> None:
            self._guard(lambda: self.inner.delete(self.prefix + key, value))

        def move(self, src: bytes, dest: bytes, value: bytes) -> None:
            self._guard(lambda: self.inner.move(self.prefix + src, self.prefix + dest, value))

    return Namespaced()
