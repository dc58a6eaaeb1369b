"""ONE's REST cache format: one-tui reads ONE's entries and writes entries ONE can read."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from one_tui.engine.remote.rest_cache import RestCache, cache_key


def test_key_is_sha1_of_query_as_one() -> None:
    assert cache_key("/sessions?subject=KS005") == "b4626d8c50e1531343fee3d514114f5515b2acb8"
    assert cache_key("/dataset-types").startswith("535d0e9a")
    assert cache_key("/insertions/b529f2d8-cdae-4d59-aba2-cbd1b5572e36").startswith("f530d602")


def test_reads_one_fixture_entries(fixture_cache: Path) -> None:
    cache = RestCache(fixture_cache)
    entry = cache.get("/dataset-types")
    assert entry is not None
    raw = entry.value  # stored before `results` is unwrapped
    assert raw["count"] == 7 and len(raw["results"]) == 7
    ins = cache.get("/insertions/b529f2d8-cdae-4d59-aba2-cbd1b5572e36")
    assert ins is not None and ins.value["session"] == "fc737f3c-2a57-4165-9763-905413e7e341"
    assert cache.get("/sessions?subject=nobody") is None
    assert (cache.hits, cache.misses) == (2, 1)
    assert cache.stats()["entries"] == 7


def test_written_entry_has_one_format(tmp_path: Path) -> None:
    cache = RestCache(tmp_path)
    raw = {"count": 1, "next": None, "previous": None, "results": [{"id": "x"}]}
    assert cache.put("/sessions?subject=KS005", raw, timedelta(hours=24))
    f = tmp_path / ".rest" / "b4626d8c50e1531343fee3d514114f5515b2acb8"
    value, when = json.loads(f.read_text())
    assert value == raw
    expiry = datetime.fromisoformat(when)
    assert timedelta(hours=23, minutes=59) < expiry - datetime.now() <= timedelta(hours=24)
    assert [p.name for p in f.parent.iterdir()] == [f.name]  # no temp file left behind


def test_expired_entry_is_a_miss_but_stale_is_available(tmp_path: Path) -> None:
    cache = RestCache(tmp_path)
    cache.put("/labs", [{"name": "cortexlab"}], True)  # expires at once
    assert cache.get("/labs") is None
    stale = cache.get_stale("/labs")
    assert stale is not None and stale.value == [{"name": "cortexlab"}]


@pytest.mark.parametrize("content", ["{not json", '["only one"]', '[1, "not a date"]'])
def test_corrupt_entry_is_deleted_not_raised(tmp_path: Path, content: str) -> None:
    notes: list[str] = []
    cache = RestCache(tmp_path, on_note=notes.append)
    (tmp_path / ".rest").mkdir()
    f = tmp_path / ".rest" / cache_key("/labs")
    f.write_text(content)
    assert cache.get("/labs") is None
    assert not f.exists()
    assert notes and "corrupt" in notes[0]


def test_read_only_folder_degrades_with_one_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> None:
        raise PermissionError(30, "Read-only file system")

    monkeypatch.setattr("one_tui.engine.core.atomic.os.replace", refuse)  # the one writer
    notes: list[str] = []
    cache = RestCache(tmp_path, on_note=notes.append)
    assert cache.put("/labs", [], timedelta(hours=1)) is False
    assert cache.put("/users", [], timedelta(hours=1)) is False
    assert len(notes) == 1 and "REST cache off" in notes[0] and "Read-only" in notes[0]
    assert cache.stats()["enabled"] is False
    assert not list((tmp_path / ".rest").iterdir())  # the temp file was cleaned up


def test_unreachable_folder_degrades(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where a folder should be
    notes: list[str] = []
    cache = RestCache(blocker / "ONE", on_note=notes.append)
    assert cache.get("/labs") is None
    assert cache.put("/labs", [], timedelta(hours=1)) is False
    assert len(notes) == 1 and cache.stats()["entries"] == 0


def test_stats_and_clear(tmp_path: Path) -> None:
    cache = RestCache(tmp_path)
    cache.put("/labs", [1, 2, 3], timedelta(hours=1))
    cache.put("/users", ["a"], timedelta(hours=1))
    cache.get("/labs")
    cache.get("/projects")
    st = cache.stats()
    assert st["entries"] == 2 and st["bytes"] > 20
    assert (st["hits"], st["misses"]) == (1, 1)
    assert cache.clear() == 2
    assert cache.stats()["entries"] == 0 and cache.get("/labs") is None
