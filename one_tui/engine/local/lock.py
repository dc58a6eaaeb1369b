"""Cross-process locks on a tables folder, honouring both lock files ONE-api uses.

* ONE-api 3.x (iblutil ``FileLock``) writes ``<dir>/.ONE.lock`` holding
  ``{"datetime": <UTC iso>, "hostname": "<built-in function gethostname>"}``: no pid, and the
  hostname is the text of the function, not a host name. It waits 5 x 1 s for an existing lock,
  then deletes it and writes anyway; on exit it unlinks the file and crashes
  (``FileNotFoundError``) if somebody removed it meanwhile.
* ONE-api 2.x touches an empty ``<cache_dir>/.cache.lock`` while it writes the tables (in place,
  not atomically) and deletes one whose ctime is more than 5 s old.

one-tui takes **both** files (each linked in whole from a temp file, ``.ONE.lock`` first), with
its pid, host and a random token in them, refreshes their times every second while it holds
them (so ONE 2.x, which judges by ctime, keeps waiting), and on release removes only a file
that is still its own (same inode and token): a lock ONE broke and re-created is left to ONE.

Stale policy (docs/sharing-with-one-api.md): a one-tui lock whose process is dead on this host
is broken at once; a one-tui lock from another host once its heartbeat stopped for
``OWN_STALE`` seconds. Any other lock (ONE's, which carries no pid; one it cannot read; one
naming a pid no process can have; one naming a live process that stopped beating) is never
broken while its writer may be alive: only once the lock file *and* every table file of the
folder have been untouched for ``layout.ABANDONED_AFTER`` (10 minutes, the age at which one-tui
also deems temp tables and download folders of killed processes on another host dead). Until
then ``acquire`` waits ``timeout`` seconds and raises :class:`LockTimeout` naming the lock, its
owner and its age.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import socket
import threading
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType

from one_tui.engine.core.bounded import loads
from one_tui.engine.local import layout

__all__ = ["LOCK_NAME", "LEGACY_LOCK_NAME", "FileLock", "LockTimeout", "ReadOnlyCacheError",
           "OWN_STALE"]

LOCK_NAME = ".ONE.lock"  # ONE-api 3.x
LEGACY_LOCK_NAME = ".cache.lock"  # ONE-api 2.x
LOCK_NAMES = (LOCK_NAME, LEGACY_LOCK_NAME)

#: Seconds without heartbeat after which a one-tui lock of another host is stale.
OWN_STALE = 30.0
#: Seconds between the heartbeats of a held lock (ONE 2.x deletes a lock whose ctime is > 5 s).
HEARTBEAT = 1.0
_OWNER = "one-tui"
_TMP = ".tmp-"  # <lock name>.tmp-<pid>-<random>: a lock's content before it is linked


class ReadOnlyCacheError(PermissionError):
    """The cache folder cannot be written (read-only mount, no permission)."""


class LockTimeout(TimeoutError):
    """Another process held the lock for longer than the timeout."""


def _describe(info: object, name: str) -> str:
    """Who holds a lock, for a one-line message."""
    if isinstance(info, dict) and info.get("owner") == _OWNER:
        return f"one-tui (pid {info.get('pid')} on {info.get('hostname')})"
    if name == LEGACY_LOCK_NAME:
        return "ONE-api 2.x"
    if isinstance(info, dict) and "datetime" in info:
        return "ONE-api"
    return "another program"


def _age(seconds: float) -> str:
    """A lock's age for one line: seconds, minutes or hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.0f} h"


class FileLock:
    """Context manager holding ``<folder>/.ONE.lock`` and ``<folder>/.cache.lock``.

    Nothing is written until ``acquire`` (so a read-only folder only fails when a write is
    attempted), and then a :class:`ReadOnlyCacheError` names the folder. ``stale_after`` is
    kept for callers of the old signature and bounds nothing of ONE's (see the module doc).
    """

    def __init__(self, folder: str | os.PathLike[str], timeout: float = 10.0,
                 stale_after: float = OWN_STALE, poll: float = 0.05) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.paths = [self.folder / n for n in LOCK_NAMES]
        self.timeout = timeout
        self.stale_after = stale_after
        self.poll = poll
        self.held = False
        #: one line per stale lock ``acquire`` broke (who held it, how long it was silent)
        self.broken_locks: list[str] = []
        self._token = secrets.token_hex(8)
        self._inodes: dict[Path, int] = {}
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # -- creating and judging lock files --------------------------------------------------------
    def _try_create(self, path: Path) -> bool:
        """Create one lock file atomically, with its content; False if it already exists.

        The content is written to a temp file first and hard-linked to the lock's name, so a
        one-tui lock is never seen empty: created empty and then filled (``O_EXCL`` then
        write), a one-tui killed in between left an empty ``.ONE.lock`` that looked like
        ONE's and held every later save up for 10 minutes. Where the filesystem has no hard
        links, ``O_EXCL`` and a write it is. Not ``core.atomic.atomic_write``: its rename
        replaces whatever holds the name, and taking a lock must fail when the name is taken
        (a link raises FileExistsError); nor is a lock worth an fsync."""
        payload = {"owner": _OWNER, "pid": os.getpid(), "hostname": socket.gethostname(),
                   "datetime": datetime.now().isoformat(), "token": self._token}
        text = json.dumps(payload)  # valid JSON: ONE 3.x json.loads a lock before deleting it
        tmp = path.with_name(f"{path.name}{_TMP}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            try:
                tmp.write_text(text)
                os.link(tmp, path)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                    raise
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
        except FileExistsError:
            return False
        except (PermissionError, OSError) as exc:
            if isinstance(exc, PermissionError) or exc.errno in (13, 30):  # EACCES, EROFS
                raise ReadOnlyCacheError(
                    f"Cache directory is read-only: {self.folder} (cannot create {path.name})"
                ) from None
            raise
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._inodes[path] = os.stat(path).st_ino
        return True

    def _remove_dead_temps(self) -> None:
        """Temp lock files of one-tuis killed between writing and linking one (each lives for
        microseconds; one a minute old is dead)."""
        for name in LOCK_NAMES:
            for tmp in self.folder.glob(f"{name}{_TMP}*"):
                with contextlib.suppress(OSError):
                    if time.time() - tmp.lstat().st_mtime > 60:
                        tmp.unlink()

    def _info(self, path: Path) -> tuple[float, object] | None:
        """(age in seconds, parsed content or None) of a lock file; None if it is gone. Content
        that is not JSON text (garbage bytes) is None: a lock nobody can read."""
        try:
            st = path.stat()
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            return 0.0, None
        try:
            info: object = loads(raw) if raw.strip() else None
        except ValueError:  # UnicodeDecodeError included
            info = None
        return time.time() - st.st_mtime, info

    def _tables_idle_for(self) -> float:
        """Seconds since any table (or temp table) of the folder last changed."""
        newest = 0.0
        try:
            for p in self.folder.iterdir():
                if ".pqt" in p.name:
                    try:
                        newest = max(newest, p.lstat().st_mtime)
                    except OSError:
                        continue
        except OSError:
            return 0.0
        return time.time() - newest if newest else float("inf")

    def _is_stale(self, path: Path) -> tuple[float, object] | None:
        """(age, content) of a lock to break, None to wait: see the module doc.

        A one-tui lock of this host whose pid is dead goes at once; of another host once its
        heartbeat stopped for ``stale_after``. Every other lock is judged by age as a lock
        one-tui did not create: one it cannot read (garbage bytes), one naming a pid no process
        can have (too large for the OS), one naming a live process that has not beaten for
        ``layout.ABANDONED_AFTER`` (a live one-tui beats every second: the pid was reused by
        an unrelated process, or its owner is stopped)."""
        found = self._info(path)
        if found is None:
            return None
        age, info = found
        owner = info if isinstance(info, dict) else {}
        pid = owner.get("pid")
        if (isinstance(pid, int) and not isinstance(pid, bool)
                and owner.get("hostname") == socket.gethostname()):  # also older one-tuis
            if layout.pid_alive(pid) is False:
                return found
        elif owner.get("owner") == _OWNER:  # another host: its heartbeat
            return found if age > self.stale_after else None
        dead = layout.ABANDONED_AFTER.total_seconds()
        return found if age > dead and self._tables_idle_for() > dead else None

    def _holder(self) -> str:
        """One line naming the locks held by others now and their age."""
        parts = []
        for path in self.paths:
            if path in self._inodes:
                continue
            found = self._info(path)
            if found is not None:
                age, info = found
                parts.append(f"{path.name} held by {_describe(info, path.name)}, {_age(age)} old")
        return "; ".join(parts) or "the lock was busy"

    # -- acquire / release ----------------------------------------------------------------------
    def acquire(self) -> None:
        """Wait up to ``timeout`` seconds for both lock files, breaking only stale ones."""
        if not self.folder.is_dir():
            raise FileNotFoundError(f"Cache directory not accessible: {self.folder}")
        deadline = time.monotonic() + self.timeout
        self._remove_dead_temps()
        try:
            for path in self.paths:
                while not self._try_create(path):
                    if (stale := self._is_stale(path)) is not None:
                        path.unlink(missing_ok=True)
                        age, info = stale
                        self.broken_locks.append(
                            f"{path.name} of {_describe(info, path.name)}, untouched for "
                            f"{_age(age)}")
                        continue
                    if time.monotonic() >= deadline:
                        raise LockTimeout(
                            f"Timed out after {self.timeout:g} s waiting for {path} "
                            f"({self._holder()}; another process is saving the cache tables)")
                    time.sleep(self.poll)
        except BaseException:
            self._remove_own()
            raise
        self.held = True
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name="one-tui-lock", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        """Keep the lock files' times fresh while held (ONE 2.x breaks a lock by its ctime)."""
        while not self._stop.wait(HEARTBEAT):
            for path in list(self._inodes):
                if self._still_ours(path):
                    with contextlib.suppress(OSError):
                        os.utime(path)

    def _still_ours(self, path: Path) -> bool:
        """The lock file is the one we created (ONE may have deleted it and written its own)."""
        try:
            if os.stat(path).st_ino != self._inodes.get(path):
                return False
            info = loads(path.read_bytes() or b"{}")
        except (OSError, ValueError):
            return False
        return isinstance(info, dict) and info.get("token") == self._token

    def _remove_own(self) -> None:
        for path in reversed(list(self._inodes)):
            if self._still_ours(path):
                path.unlink(missing_ok=True)
        self._inodes.clear()

    @property
    def broken(self) -> bool:
        """True when another process removed or replaced one of our lock files while held."""
        return self.held and not all(self._still_ours(p) for p in self._inodes)

    def release(self) -> None:
        """Remove the lock files that are still ours; never one another process re-created."""
        if self.held:
            self._stop.set()
            if self._beat is not None:
                self._beat.join()
                self._beat = None
            self._remove_own()
            self.held = False

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
