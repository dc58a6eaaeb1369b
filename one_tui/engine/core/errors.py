"""Exceptions the engine raises, named as ONE names them so a ONE user recognises them.

Every message is one line a user can act on; the app shows ``str(exc)`` as a toast.
"""

from __future__ import annotations


class ALFError(Exception):
    """Base of ONE's ALF errors (``one.alf.exceptions.ALFError``)."""


class ALFObjectNotFound(ALFError):
    """A session, dataset or object is not in the tables (or not on Alyx)."""


class ALFMultipleObjectsFound(ALFError):
    """A lookup that must match one record matched several."""


class ALFInvalid(ALFError, ValueError):
    """An ALF name or filter that cannot be parsed."""


class CacheDirError(FileNotFoundError):
    """The cache folder is missing or unreadable.

    ONE re-raises ``FileNotFoundError`` here; we keep that base class so callers that catch it work.
    """


class AlyxError(Exception):
    """Base of every error that comes from talking to Alyx."""


class AlyxConnectionError(AlyxError, ConnectionError):
    """Alyx cannot be reached: refused, timed out, DNS, dropped connection."""


class HTTPError(AlyxError):
    """Alyx answered with an error status.

    ``str()`` follows ONE's ``requests.HTTPError`` form: ``[Errno 404] /sessions/<id>: 'detail'``.
    """

    def __init__(self, status_code: int, endpoint: str, detail: str = "") -> None:
        self.status_code = status_code
        self.endpoint = endpoint
        self.detail = detail
        super().__init__(f"[Errno {status_code}] {endpoint}: {detail!r}")


class AuthenticationError(HTTPError):
    """The login was refused (400 on ``/auth-token``) or the token was rejected."""


class IncompleteDownload(AlyxError):
    """A download stopped short or arrived as a broken zip; the tables on disk were kept.

    Its own type so the engine says "cache.zip was truncated" without reading the message."""


class MalformedResponse(AlyxError, ValueError):
    """Alyx (or a proxy in front of it) answered 200 with JSON that is not what Alyx sends: a page
    envelope or record of the wrong shape. The message names what was wrong, in one line."""


class LoginRequired(AlyxError):
    """Alyx needs a password and none is cached or given (the app then shows its login modal)."""


class OfflineError(AlyxError):
    """A remote call was asked for while the engine is in ``local`` mode or has no Alyx client."""


class ReadOnlyError(AlyxError):
    """one-tui only reads from Alyx; a write action was asked for."""
