"""Downloading ``cache.zip``: stream it to a temporary folder, check it, unzip it safely.

ONE's ``http_download_file`` idea, kept out of the client: the client decides *what* to fetch
and with which token (and logs in again when Alyx rejects it); this module only moves bytes,
honours a cancel at once (even on a stalled read) and leaves the caller's folder untouched by
anything but a complete, verified set of files.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path, PurePosixPath

import httpx

from one_tui.engine.core import results as outcome
from one_tui.engine.core.bounded import MAX_TABLES_ZIP
from one_tui.engine.core.errors import AlyxError, HTTPError, IncompleteDownload
from one_tui.engine.core.spec import one_line
from one_tui.engine.local.movein import DOWNLOAD_PREFIX, STAGED
from one_tui.engine.remote.failures import bad_url, error_detail, unreachable
from one_tui.engine.remote.urls import endpoint_label

__all__ = ["Progress", "ZipDownload", "fetch_tables", "unzip"]

#: ``on_progress(bytes so far, total bytes or 0 when the server did not say)``
Progress = Callable[[int, int], None]

_UNTOUCHED = "the local cache tables were left untouched"


def fetch_tables(stream: Callable[[Path], bool], dest_dir: str | Path, url: str,
                 max_bytes: int = MAX_TABLES_ZIP) -> list[Path]:
    """Stream the zip with ``stream(target)`` into a new temporary folder inside ``dest_dir``
    and unzip it there.

    Returns the extracted files; their folder (``dest_dir/.one-tui-download-*``) is the
    caller's to move from and remove. ``stream`` returns False when cancelled: then ``[]``
    (the call's record says cancelled). Any failure removes the temporary folder and raises.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=DOWNLOAD_PREFIX, dir=dest))
    try:
        zip_path = tmp / "cache.zip"
        if not stream(zip_path):
            outcome.cancelled()
            shutil.rmtree(tmp, ignore_errors=True)
            return []
        files = unzip(zip_path, tmp / STAGED, url, max_bytes)
        zip_path.unlink()
        return files
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class ZipDownload:
    """Streams a URL to a file over the client's connection pool; knows nothing of tokens."""

    def __init__(self, http: httpx.Client, base_url: str, max_bytes: int = MAX_TABLES_ZIP
                 ) -> None:
        self.http = http
        self.base_url = base_url
        self.max_bytes = max_bytes  # when the server does not say (no Content-Length)

    def stream_to(self, url: str, headers: dict[str, str], target: Path,
                  cancel: threading.Event | None, on_progress: Progress | None) -> bool:
        """Stream ``url`` to ``target``; False if cancelled. Raises on HTTP or network errors.

        A cancel closes the response from a watcher thread, so whatever the interrupted read
        raises then is a cancel, not an error: one check, in one place.
        """
        label = endpoint_label(url)
        try:
            with self.http.stream("GET", url, headers=headers) as rep:
                if rep.status_code != 200:
                    rep.read()
                    raise HTTPError(rep.status_code, label, error_detail(rep))
                total = int(rep.headers.get("Content-Length") or 0)
                done = _write(rep, target, cancel, on_progress, total, self.max_bytes)
        except httpx.InvalidURL as exc:
            raise bad_url(url, exc) from None
        except Exception as exc:
            if cancel is not None and cancel.is_set():
                return False  # the watcher closed the stream under the read
            failure = self._failure(exc, label)
            if failure is None:
                raise
            raise failure from None
        if done is None:
            return False
        if not total and done > self.max_bytes:
            raise IncompleteDownload(
                f"The download of {label} went past {self.max_bytes:,} bytes without saying its"
                f" size; stopped there, {_UNTOUCHED}")
        if total and done != total:
            raise IncompleteDownload(
                f"The download of {label} is incomplete ({done} of {total} bytes); {_UNTOUCHED}"
            )
        return True

    def _failure(self, exc: Exception, label: str) -> AlyxError | None:
        """The error a user sees for an httpx failure mid-download; None: raise it as it is."""
        if isinstance(exc, httpx.RemoteProtocolError):  # before TransportError: a subclass
            return IncompleteDownload(
                f"The download of {label} from {self.base_url} was cut short; {_UNTOUCHED}")
        if isinstance(exc, httpx.TransportError):
            return unreachable(self.base_url)
        if isinstance(exc, httpx.StreamError):
            return IncompleteDownload(f"The download of {label} stopped ({one_line(exc)})")
        return None


def _write(rep: httpx.Response, target: Path, cancel: threading.Event | None,
           on_progress: Progress | None, total: int, max_bytes: int) -> int | None:
    """Write the body to ``target`` as it arrives; the byte count, or None when cancelled."""
    finished = threading.Event()
    if cancel is not None:
        # a cancel closes the response from a watcher thread, so a read stalled on a slow or
        # hung server returns at once instead of after its timeout
        threading.Thread(target=_close_on_cancel, args=(rep, cancel, finished),
                         daemon=True, name="one-tui-download-cancel").start()
    done = 0
    try:
        with open(target, "wb") as f:
            for chunk in rep.iter_bytes():  # as received: progress and cancel
                if cancel is not None and cancel.is_set():
                    return None
                f.write(chunk)
                done += len(chunk)
                if done > (total or max_bytes):  # more than announced, or than any tables
                    break  # zip (a gzip bomb): stop now, not at a full disk; stream_to says so
                if on_progress:
                    on_progress(done, total)
    finally:
        finished.set()
    return done


def _close_on_cancel(rep: httpx.Response, cancel: threading.Event,
                     finished: threading.Event) -> None:
    """Close ``rep`` when ``cancel`` is set before ``finished`` (a download's watcher)."""
    while not finished.wait(0.05):
        if cancel.is_set():
            # closing a socket does not wake a blocked recv on Linux; shutting it down does.
            # Best effort: the stream may be gone or of another kind (a test transport).
            with suppress(AttributeError, OSError, RuntimeError):
                stream = rep.extensions.get("network_stream")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            return


def unzip(zip_path: Path, out_dir: Path, url: str, max_bytes: int = MAX_TABLES_ZIP
          ) -> list[Path]:
    """Check the zip is complete (CRCs included) and extract it safely (no absolute path, no
    ``..``, at most ``max_bytes`` unzipped): a corrupt or hostile zip raises AlyxError before
    anything reaches ``out_dir``'s parent."""
    label = endpoint_label(url)
    size = zip_path.stat().st_size
    try:
        with zipfile.ZipFile(zip_path) as zf:
            claimed = sum(info.file_size for info in zf.infolist())
            if claimed > max_bytes:
                raise IncompleteDownload(
                    f"{label} would unzip to {claimed:,} bytes, more than any tables"
                    f" ({max_bytes:,}); {_UNTOUCHED}")
            bad = zf.testzip()
            if bad is not None:
                raise zipfile.BadZipFile(bad)
            out_dir.mkdir()
            files = []
            for info in zf.infolist():
                name = PurePosixPath(info.filename)
                if info.is_dir():
                    continue
                if name.is_absolute() or ".." in name.parts:
                    raise zipfile.BadZipFile(f"unsafe path {info.filename}")
                zf.extract(info, out_dir)
                files.append(out_dir.joinpath(*name.parts))
    except (zipfile.BadZipFile, EOFError, zlib.error):
        raise IncompleteDownload(
            f"{label} is not a complete zip file ({size} bytes); {_UNTOUCHED}"
        ) from None
    return files
