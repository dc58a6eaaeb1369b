"""One file from the data server to ONE's name, or nothing under ONE's name.

The bytes go to a private partial name beside the target (``local/ondisk.partial_path``: a
leading dot and ``.one-tui-part``, never a name ONE looks for). Size and hash are checked while
they stream; only a file whose size is the table's ``file_size`` and whose hash (md5 for 32
hex, sha1 for 40, none for empty) is the table's is fsynced and renamed onto ONE's name with
one ``os.replace``. So no file ONE would accept as complete ever exists before it is right, and
a killed or cancelled download leaves only its partial, which the next attempt resumes with
``Range: bytes=<size>-`` (a ``206`` is accepted only when its ``Content-Range`` starts there
and names the expected total; a ``200`` means the server ignored the range: start over).

An attempt ends in :class:`Retry` (try again: truncation, 429/5xx, a timeout, a bad range
answer, a hash mismatch once) or :class:`Failed` (no point: 401/403/404, a full disk), which
:mod:`one_tui.engine.fetch.job` turns into retries and outcomes.
"""

from __future__ import annotations

import contextlib
import errno
import os

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from one_tui.engine.fetch.values import FailCause, FileTask
from one_tui.engine.local import checksum
from one_tui.engine.local.ondisk import partial_path

if TYPE_CHECKING:
    import httpx

__all__ = ["Retry", "Failed", "Cancelled", "Attempt", "fetch_once", "retry_after",
           "LOGIN_HINT"]

LOGIN_HINT = ("check HTTP_DATA_SERVER_LOGIN and HTTP_DATA_SERVER_PWD in ONE's settings for "
              "this database")
_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")
CHUNK = 1 << 20


class Retry(Exception):
    """This attempt failed in a way another attempt may not (status, Retry-After seconds)."""

    def __init__(self, reason: str, status: int | None = None,
                 after: float | None = None, restart: bool = False,
                 cause: FailCause = FailCause.SERVER) -> None:
        super().__init__(reason)
        self.reason, self.status, self.after, self.restart = reason, status, after, restart
        self.cause = cause


class Failed(Exception):
    """No further attempt can succeed (one line; the HTTP status when it decided)."""

    def __init__(self, reason: str, status: int | None = None, disk_full: bool = False,
                 cause: FailCause = FailCause.OTHER) -> None:
        super().__init__(reason)
        self.reason, self.status, self.disk_full = reason, status, disk_full
        self.cause = FailCause.DISK if disk_full else cause


class Cancelled(Exception):
    """The user cancelled; the partial is kept."""


@dataclass
class Attempt:
    """What one attempt did (the job adds them up)."""

    received: int = 0        # body bytes received
    resumed_from: int = 0    # bytes of the partial the server continued (a 206)
    status: int | None = None


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (a number or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        from datetime import UTC, datetime

        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _drop(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _disk_full(exc: OSError, task: FileTask) -> Failed:
    return Failed(f"the disk is full ({os.strerror(exc.errno or errno.ENOSPC)}) writing "
                  f"{task.target.parent}; the partial file is kept: free space and run the "
                  "same download again to resume", disk_full=True)


def _finalise(out: Any, partial: Path, target: Path) -> None:
    """fsync the verified partial and rename it onto ONE's name (one atomic step), while this
    process still holds its lock."""
    out.flush()
    os.fsync(out.fileno())
    os.replace(partial, target)


def _verify(task: FileTask, out: Any, digest: Any, size: int) -> None:
    """Raise when the streamed bytes are not the table's (the partial is emptied: its bytes
    are wrong, a resume would keep them)."""
    if task.file_size is not None and size != task.file_size:
        if size > task.file_size:
            out.truncate(0)
            raise Retry(f"the server sent {size:,} bytes, the table says {task.file_size:,}",
                        restart=True, cause=FailCause.CONTENT)
        raise Retry(f"truncated: the connection closed after {size:,} of "
                    f"{task.file_size:,} bytes", cause=FailCause.NETWORK)
    if digest is not None:
        got = str(digest.hexdigest())
        if not checksum.matches(got, task.hash):
            out.truncate(0)
            name = checksum.algorithm(task.hash)
            raise Retry(f"{name} mismatch: the bytes received hash to {got}, the table says "
                        f"{task.hash}", restart=True, cause=FailCause.CONTENT)


def _already_right(task: FileTask) -> bool:
    """ONE's name already holds the table's bytes (size, and hash when there is one)."""
    try:
        size = task.target.stat().st_size
    except OSError:
        return False
    if task.file_size is None or size != task.file_size:
        return False
    if checksum.algorithm(task.hash) is None:
        return True
    return checksum.matches(checksum.file_digest(task.target, task.hash), task.hash)


def _locked_partial(task: FileTask, partial: Path) -> Any:
    """The partial file opened for writing under an exclusive lock (``flock``), so that two
    processes (the app and a script) never write one file: the other one waits and retries.
    The lock is taken on the inode the name still points to (re-checked after the lock)."""
    try:
        out = open(partial, "a+b")  # noqa: SIM115 - closed by fetch_once's finally
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _disk_full(exc, task) from None
        raise Failed(f"cannot write {partial.name}: {exc.strerror or exc}",
                     cause=FailCause.DISK) from None
    if fcntl is None:  # no flock (Windows): one writer is the user's business
        return out
    try:
        fcntl.flock(out.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        same = os.fstat(out.fileno()).st_ino == os.stat(partial).st_ino
    except (BlockingIOError, FileNotFoundError):
        same = False
    if not same:
        out.close()
        raise Retry("another process is downloading this file", after=1.0,
                    cause=FailCause.OTHER)
    return out


def fetch_once(client: httpx.Client, task: FileTask, *, auth: Any, cancel: threading.Event,
               on_bytes: Callable[[int], None], watch: Callable[[Any], None],
               on_start: Callable[[int], None], attempt: Attempt) -> None:
    """One attempt: resume the partial (or start it), stream, verify, rename. Raises
    :class:`Retry`, :class:`Failed` or :class:`Cancelled`; returns when the file is in place.
    ``watch(response)`` hands the open response to the job (its cancel watcher closes it);
    ``on_start(kept)`` says how many bytes of the partial are kept when the body starts;
    ``on_bytes(n)`` counts the bytes received."""
    target = task.target
    partial = partial_path(target, task.hash)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _disk_full(exc, task) from None
        raise Failed(f"cannot create {target.parent}: {exc.strerror or exc}",
                     cause=FailCause.DISK) from None
    out = _locked_partial(task, partial)
    try:
        _attempt(client, task, out, partial, auth=auth, cancel=cancel, on_bytes=on_bytes,
                 watch=watch, on_start=on_start, attempt=attempt)
    finally:
        with contextlib.suppress(OSError):
            mine = os.fstat(out.fileno())
            # nothing kept: no empty partial left behind (still locked, and still this name's)
            if mine.st_size == 0 and os.stat(partial).st_ino == mine.st_ino:
                partial.unlink()
        out.close()


def _attempt(client: httpx.Client, task: FileTask, out: Any, partial: Path, *, auth: Any,
             cancel: threading.Event, on_bytes: Callable[[int], None],
             watch: Callable[[Any], None], on_start: Callable[[int], None],
             attempt: Attempt) -> None:
    import httpx

    target = task.target
    if _already_right(task):  # another process put it in place while this one waited
        attempt.status = None
        return
    have = os.fstat(out.fileno()).st_size
    if task.file_size is not None and have > task.file_size:
        out.truncate(0)
        have = 0
    digest = checksum.new_digest(task.hash)
    if have and task.file_size is not None and have == task.file_size:
        # a complete partial (killed between the last byte and the rename): check it
        if digest is not None:
            out.seek(0)
            while chunk := out.read(CHUNK):
                digest.update(chunk)
        attempt.resumed_from = have
        on_start(have)
        _verify(task, out, digest, have)
        _finalise(out, partial, target)
        return
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with client.stream("GET", task.url, headers=headers, auth=auth) as response:
            watch(response)
            attempt.status = status = response.status_code
            if status in (401, 403):
                raise Failed(f"HTTP {status}: the data server refused the login; "
                             f"{LOGIN_HINT}", status, cause=FailCause.LOGIN)
            if status == 404:
                raise Failed("HTTP 404: not on the data server", status,
                             cause=FailCause.NOT_FOUND)
            if status == 416:
                out.truncate(0)
                raise Retry("HTTP 416: the server refused to resume; starting over", status,
                            restart=True)
            if status == 429 or status >= 500:
                raise Retry(f"HTTP {status}", status,
                            retry_after(response.headers.get("Retry-After")))
            if status not in (200, 206):
                raise Failed(f"HTTP {status}", status)
            if status == 206:
                found = _RANGE.match(response.headers.get("Content-Range", ""))
                total = task.file_size
                if (found is None or int(found.group(1)) != have
                        or (total is not None and found.group(3) not in ("*", str(total)))):
                    out.truncate(0)
                    raise Retry("the server's Content-Range does not continue the partial "
                                "file; starting over", status, restart=True,
                                cause=FailCause.CONTENT)
                attempt.resumed_from = have
            else:
                have = 0  # a 200: the server sent the whole file (it ignored the range)
            length = response.headers.get("Content-Length")
            if (length is not None and length.isdigit() and task.file_size is not None
                    and int(length) != task.file_size - have):
                raise Retry(f"the server announces {int(length):,} bytes, "
                            f"{task.file_size - have:,} were expected", status, restart=True,
                            cause=FailCause.CONTENT)
            out.seek(0)
            if have and digest is not None:  # the kept bytes, then the new ones
                while chunk := out.read(CHUNK):
                    digest.update(chunk)
            out.truncate(have)
            out.seek(have)
            size = have
            on_start(have)
            try:
                for chunk in response.iter_bytes():  # as received (a size buffers)
                    if cancel.is_set():
                        raise Cancelled()
                    out.write(chunk)
                    if digest is not None:
                        digest.update(chunk)
                    size += len(chunk)
                    attempt.received += len(chunk)
                    on_bytes(len(chunk))
                    if task.file_size is not None and size > task.file_size:
                        break
                out.flush()
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise _disk_full(exc, task) from None
                raise Failed(f"cannot write {partial.name}: {exc.strerror or exc}",
                             cause=FailCause.DISK) from None
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        if cancel.is_set():
            raise Cancelled() from None
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection lost"
        raise Retry(f"{kind}: {type(exc).__name__}", cause=FailCause.NETWORK) from None
    _verify(task, out, digest, size)
    try:
        _finalise(out, partial, target)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _disk_full(exc, task) from None
        raise Failed(f"cannot rename into {target.name}: {exc.strerror or exc}",
                     cause=FailCause.DISK) from None
