"""A cross-process lock on ``<dir>/.ONE.lock``, the file ONE-api 3.x locks its tables with.

Parallel jobs sharing one cache folder (ONE issue #211) must not interleave table writes. The lock
file is created with ``O_CREAT | O_EXCL`` and holds the owner's pid and time; a lock older than
``stale_after`` seconds whose owner is gone is broken, as ONE breaks locks older than 5 s.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType

__all__ = ["LOCK_NAME", "FileLock", "LockTimeout", "ReadOnlyCacheError"]

LOCK_NAME = ".ONE.lock"


class ReadOnlyCacheError(PermissionError):
    """The cache folder cannot be written (read-only mount, no permission)."""


class LockTimeout(TimeoutError):
    """Another process held the lock for longer than the timeout."""


def _pid_alive(pid: int) -> bool:
    """True if a process with this pid exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    return True


class FileLock:
    """Context manager holding ``<folder>/.ONE.lock``.

    Nothing is written until ``acquire`` (so a read-only folder only fails when a write is
    attempted), and then a :class:`ReadOnlyCacheError` names the folder.
    """

    def __init__(self, folder: str | os.PathLike[str], timeout: float = 10.0,
                 stale_after: float = 5.0, poll: float = 0.05) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.timeout = timeout
        self.stale_after = stale_after
        self.poll = poll
        self.held = False

    def _try_create(self) -> bool:
        """Create the lock file atomically; False if it already exists."""
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except (PermissionError, OSError) as exc:
            if isinstance(exc, PermissionError) or exc.errno in (13, 30):  # EACCES, EROFS
                raise ReadOnlyCacheError(
                    f"Cache directory is read-only: {self.folder} (cannot create {LOCK_NAME})"
                ) from None
            raise
        payload = {"pid": os.getpid(), "hostname": socket.gethostname(),
                   "datetime": datetime.now().isoformat()}
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f)
        return True

    def _is_stale(self) -> bool:
        """A lock is stale at once when its owner is a dead process on this host (a killed
        one-tui must not hold up the next run), else once older than ``stale_after`` and its
        owner is gone or unknown."""
        try:
            age = time.time() - self.path.stat().st_mtime
            info = json.loads(self.path.read_text() or "{}")
        except FileNotFoundError:
            return False
        except (OSError, ValueError):
            info = None  # half-written (being created now) or unreadable
        pid = info.get("pid") if isinstance(info, dict) else None
        same_host = isinstance(info, dict) and info.get("hostname") in (None,
                                                                        socket.gethostname())
        if same_host and isinstance(pid, int) and not _pid_alive(pid):
            return True
        if age <= self.stale_after:
            return False
        if same_host and isinstance(pid, int):
            return False  # alive (checked above)
        return True  # half-written, another host or unknown owner: ONE breaks it after 5 s

    def acquire(self) -> None:
        """Wait up to ``timeout`` seconds for the lock, breaking stale locks."""
        if not self.folder.is_dir():
            raise FileNotFoundError(f"Cache directory not accessible: {self.folder}")
        deadline = time.monotonic() + self.timeout
        while not self._try_create():
            if self._is_stale():
                self.path.unlink(missing_ok=True)
                continue
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"Timed out after {self.timeout:g} s waiting for {self.path} "
                    "(another process is saving the cache tables)"
                )
            time.sleep(self.poll)
        self.held = True

    def release(self) -> None:
        """Remove the lock file if we hold it."""
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
