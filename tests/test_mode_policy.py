"""The mode policy and the place rule as plain objects: no server, no tables, no threads.

These rules used to live in the app (``StatusState.refresh_due``) or be recomputed from fallback
text; here they are checked where they now live (``engine.modes``, ``engine.params``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from one_tui.engine import params
from one_tui.engine.core.errors import (
    AlyxConnectionError,
    AuthenticationError,
    HTTPError,
    LoginRequired,
    OfflineError,
)
from one_tui.engine.core.freshness import Freshness
from one_tui.engine.core.results import Notices, recording
from one_tui.engine.core.types import FallbackReason, Mode
from one_tui.engine.modes import ModePolicy, parse_mode, why_failed

CREATED = datetime(2024, 5, 20, 10, 0)
DAY = timedelta(hours=24)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def policy(mode: Mode = Mode.AUTO, *, created: datetime | None = CREATED,
           has_database: bool = True, clock: Clock | None = None) -> ModePolicy:
    fresh = Freshness(created, created, DAY)
    return ModePolicy(mode, has_database=has_database, freshness=lambda: fresh,
                      notices=Notices(), clock=clock or Clock(CREATED))


def test_one_validation_of_mode_names():
    assert parse_mode("auto") is Mode.AUTO and parse_mode(Mode.REMOTE) is Mode.REMOTE
    with pytest.raises(ValueError, match='Mode "fast" not recognized'):
        parse_mode("fast")
    with pytest.raises(ValueError, match='query_type "fast" not recognized'):
        policy().call_mode("fast")


def test_refresh_is_due_once_expired_until_a_table_job_ran():
    clock = Clock(CREATED)
    p = policy(clock=clock)
    assert not p.refresh_due(CREATED + timedelta(hours=1))           # fresh
    later = CREATED + DAY + timedelta(minutes=1)
    assert p.refresh_due(later)                                      # expired, no job yet
    assert not p.refresh_due(later, query_type="remote")             # Alyx answers it anyway
    clock.now = CREATED + timedelta(hours=2)
    p.table_job_ended()                                              # before the expiry
    assert p.refresh_due(later)
    clock.now = later
    p.table_job_ended()                                              # e.g. a cancelled download
    assert not p.refresh_due(later + timedelta(hours=1))


@pytest.mark.parametrize("mode", [Mode.LOCAL, Mode.REMOTE, Mode.REFRESH])
def test_refresh_due_is_auto_only(mode: Mode):
    assert not policy(mode).refresh_due(CREATED + 2 * DAY)


def test_refresh_due_needs_tables_and_a_database():
    assert not policy(created=None).refresh_due(CREATED + 2 * DAY)
    assert not policy(has_database=False).refresh_due(CREATED + 2 * DAY)


def test_fallback_is_typed_recorded_and_retried():
    p = policy()
    with recording() as rec:
        fallback = p.fall_back(FallbackReason.UNREACHABLE, "Alyx unreachable (timed out)")
    assert rec.fallback == fallback and fallback.requested is Mode.AUTO
    assert str(fallback) == "auto → local: Alyx unreachable (timed out)"
    assert p.current is Mode.LOCAL and p.offline and p.fell_back
    with pytest.raises(OfflineError, match="auto → local"):
        p.call_mode("remote")                      # Alyx failed just now
    p.restore()
    assert p.current is Mode.AUTO and p.fallback is None


def test_chosen_modes():
    p = policy(has_database=False)
    with pytest.raises(OfflineError):
        p.choose("remote")
    p = policy()
    p.fall_back(FallbackReason.HTTP_ERROR, "cache/info failed (HTTP 500)")
    p.choose("refresh")
    assert p.requested is p.current is Mode.REFRESH and p.fallback is None
    assert p.call_mode(None) is Mode.REFRESH and p.call_mode("auto") is Mode.REFRESH
    assert p.call_mode("local") is Mode.LOCAL and p.call_mode("remote") is Mode.REMOTE


@pytest.mark.parametrize(("exc", "reason", "text"), [
    (AuthenticationError(400, "/auth-token"), FallbackReason.LOGIN_REFUSED, "login refused (400)"),
    (LoginRequired("no"), FallbackReason.LOGIN_NEEDED, "login needed (no password or saved token)"),
    (HTTPError(403, "/sessions"), FallbackReason.HTTP_ERROR, "Alyx refused access (403)"),
    (HTTPError(500, "/cache/info"), FallbackReason.HTTP_ERROR, "cache/info failed (HTTP 500)"),
    (HTTPError(500, "/auth-token"), FallbackReason.HTTP_ERROR, "login failed (HTTP 500)"),
    (AlyxConnectionError("x"), FallbackReason.UNREACHABLE, "Alyx unreachable (connection failed)"),
    (ValueError("bad\nthing"), FallbackReason.OTHER, "cache/info failed (bad thing)"),
])
def test_failures_are_classified_by_type(exc: Exception, reason: FallbackReason, text: str):
    assert why_failed(exc, "cache/info") == (reason, text)


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_place_follows_one_rules(home: Path, tmp_path: Path):
    url = "http://127.0.0.1:8765"
    folder = tmp_path / "data"
    _write(home / ".one" / ".caches", {"CLIENT_MAP": {"127.0.0.1_8765": str(folder)},
                                        "DEFAULT": "127.0.0.1_8765"})
    _write(home / ".one" / ".127.0.0.1_8765",
           {"ALYX_URL": url, "ALYX_LOGIN": "ana", "TOKEN": {"ana": {"token": "t0k"}}})
    default = params.resolve_place()
    assert (default.base_url, default.cache_dir, default.username) == (url, folder, "ana")
    assert default.token == "t0k" and "t0k" not in repr(default)
    by_folder = params.resolve_place(cache_dir=folder)          # ONE's check_cache_conflict
    assert by_folder.base_url == url
    other = params.resolve_place(cache_dir=tmp_path / "elsewhere")  # a folder of no database
    assert other.base_url is None and other.cache_dir == tmp_path / "elsewhere"
    bob = params.resolve_place(f"{url}/", username="bob")
    assert bob.base_url == url and bob.username == "bob" and bob.token is None


def test_place_with_an_unreadable_settings_file(home: Path):
    (home / ".one").mkdir(parents=True, exist_ok=True)
    (home / ".one" / ".caches").write_text("{not json")
    place = params.resolve_place()
    assert place.base_url is None and place.problem and "not valid JSON" in place.problem
