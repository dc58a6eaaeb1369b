"""The engine's vocabulary as enums: what the app and the CLI match on instead of text.

StrEnums, so a value prints as the word a ONE user knows (``Mode.AUTO == "auto"``) and old
callers that pass plain strings keep working (``Mode("auto")``).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Mode", "Source", "OutcomeKind", "FallbackReason", "MODES", "LOCAL_MEANS",
           "DiskState"]


class Mode(StrEnum):
    """ONE 2.x's modes (ONE 3.x kept only local and remote; a browser needs all four)."""

    LOCAL = "local"
    REMOTE = "remote"
    AUTO = "auto"
    REFRESH = "refresh"


#: The modes in the order the app cycles through them.
MODES: tuple[Mode, ...] = tuple(Mode)

#: What ``local`` means, in the words the help, the README and the Cache pane all use (ONE's
#: modes page: a per-call ``query_type='remote'`` may ask Alyx when a database is set up). The
#: rule itself is ``ModePolicy.call_mode``; this is its sentence, so nothing says otherwise.
LOCAL_MEANS = ("the tables on disk; nothing goes to Alyx by itself. A search run with "
               "query_type='remote' (ctrl+r, or an Alyx-only filter) asks Alyx when a database "
               "is set up and Alyx has not just failed")


class Source(StrEnum):
    """Where an answer came from."""

    LOCAL = "local tables"
    REST_CACHE = "REST cache"
    ALYX = "Alyx"


class OutcomeKind(StrEnum):
    """How a job on the tables ended (connect, login, refresh)."""

    NOT_EXPIRED = "not-expired"      # Alyx was not asked: the tables are fresh
    NOTHING_NEWER = "nothing-newer"
    NEW_TABLES = "new-tables"
    UNREACHABLE = "unreachable"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOGIN_NEEDED = "login-needed"
    LOGIN_REFUSED = "login-refused"
    LOCAL = "local"                  # local mode (chosen or fallen back to): nothing sent
    CONNECTED = "connected"
    DONE = "done"                    # a job that is not about the tables (clear the REST cache)

    @property
    def failed(self) -> bool:
        return self in _FAILED


_FAILED = frozenset({OutcomeKind.UNREACHABLE, OutcomeKind.FAILED, OutcomeKind.LOGIN_NEEDED,
                     OutcomeKind.LOGIN_REFUSED})


class FallbackReason(StrEnum):
    """Why the mode fell back to local: the app decides on this, never on the text."""

    NO_DATABASE = "no-database"        # no Alyx is set up
    LOGIN_NEEDED = "login-needed"      # no password and no saved token
    LOGIN_REFUSED = "login-refused"    # Alyx refused the credentials (or the token)
    UNREACHABLE = "unreachable"        # no connection
    HTTP_ERROR = "http-error"          # Alyx answered with an error
    BAD_TABLES = "bad-tables"          # the tables it sent cannot be used
    OTHER = "other"

    @property
    def wants_login(self) -> bool:
        return self in (FallbackReason.LOGIN_NEEDED, FallbackReason.LOGIN_REFUSED)


class DiskState(StrEnum):
    """A dataset's file on this disk, as ONE-api would see it (``local/ondisk.py`` decides)."""

    OK = "on disk"                   # ONE would load it without a download (right size)
    MISSING = "missing"
    SIZE_MISMATCH = "size mismatch"  # damaged: ONE 3.x says "local file size mismatch"
    HASH_MISMATCH = "hash mismatch"  # right size, wrong bytes (a verify found it)
    STRANDED = "stranded"            # only ``name.<uuid>.ext`` left by a failed ONE batch
    PARTIAL = "partial"              # only one-tui's partial download (resumable)

    @property
    def loadable(self) -> bool:
        """ONE-api loads it without downloading (size right; hash not asked here)."""
        return self is DiskState.OK
