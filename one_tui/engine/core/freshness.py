"""When the tables are too old: the one expiry rule, with the clock passed in.

ONE 2.x: the tables are expired when there are none or their creation time is more than
``cache_expiry`` ago; ``auto`` then asks Alyx for newer ones at the next query. Everything that
shows or acts on expiry (the mode policy, the Cache pane, the status line, the CLI) asks a
:class:`Freshness` with its own ``now``, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["DATE_FORMAT", "DEFAULT_EXPIRY", "Freshness", "parse_created"]

#: How ONE and Alyx write ``date_created`` in a table's metadata (local time, to the minute).
DATE_FORMAT = "%Y-%m-%d %H:%M"
#: ONE's default ``cache_expiry``.
DEFAULT_EXPIRY = timedelta(hours=24)


def parse_created(text: object) -> datetime | None:
    """A ``date_created`` ('YYYY-MM-DD HH:MM' local time, or ISO 8601) as a naive datetime;
    None when it is missing or not a date."""
    if text is None:
        return None
    try:
        return datetime.strptime(str(text)[:16], DATE_FORMAT)
    except ValueError:
        try:
            return datetime.fromisoformat(str(text)).replace(tzinfo=None)
        except ValueError:
            return None


@dataclass(frozen=True)
class Freshness:
    """The tables' creation and load times and the expiry that applies to them."""

    created: datetime | None
    loaded: datetime | None = None
    expiry: timedelta = DEFAULT_EXPIRY

    def expired(self, now: datetime) -> bool:
        """No tables, or created more than ``expiry`` before ``now``."""
        return self.created is None or now - self.created > self.expiry

    def age(self, now: datetime) -> timedelta | None:
        return None if self.created is None else now - self.created

    @property
    def expires_at(self) -> datetime | None:
        """When the tables expire (when ``auto`` will ask Alyx again), None without tables."""
        return None if self.created is None else self.created + self.expiry

    def refresh_due(self, now: datetime, checked_at: datetime | None) -> bool:
        """The app's auto rule: expired at ``now`` and Alyx not asked since they expired
        (``checked_at``: when a table job last asked Alyx, or was cancelled, None: never).
        ``ModePolicy.refresh_due`` applies it; the Cache pane shows it."""
        expires = self.expires_at
        if expires is None or not self.expired(now):
            return False
        return checked_at is None or checked_at < expires

    def load_is_due(self, now: datetime) -> bool:
        """ONE 2.x's ``refresh_cache('auto')``: reload once ``expiry`` passed since the load."""
        return self.loaded is None or now - self.loaded >= self.expiry
