"""The table-set guards without a server: whatever Alyx answers, one set's tables never land
in another set's folder (ONE-api's traps B, C and D, one-downloads.md §2.3), and the last set
is remembered in one-tui's own file, never in ONE's ~/.one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from one_tui.demo import cachefiles
from one_tui.engine import EngineService, One
from one_tui.engine.core.results import Notices
from one_tui.engine.core.types import OutcomeKind
from one_tui.engine.tablesets import disk_tags, remember_set, remembered_set, state_path

OLD = dt.datetime(2024, 1, 1, 10, 0)
NEW = dt.datetime(2025, 1, 1, 10, 0)


class FakeAlyx:
    """Answers ``cache/info`` with ``info`` and "downloads" tables carrying ``zip_tags``."""

    base_url = "http://alyx.test"
    needs_login = False
    user = None
    is_logged_in = False

    def __init__(self, db: Any, info: dict[str, Any], zip_tags: list[str] | None) -> None:
        self.db, self.info, self.zip_tags = db, info, zip_tags
        self.notices = Notices()
        self.asked: list[str] = []
        self.downloads: list[str | None] = []

    def get(self, query: str, **_: Any) -> dict[str, Any]:
        self.asked.append(query)
        return dict(self.info)

    def download_cache_tables(self, location: str | None, dest: Path, **_: Any) -> list[Path]:
        self.downloads.append(location)
        meta = self.db.table_metadata(NEW)
        if self.zip_tags:
            meta["database_tags"] = self.zip_tags
        tmp = Path(dest) / ".one-tui-download-test" / "tables"
        return cachefiles.write_tables(tmp, self.db.sessions, self.db.datasets, meta)


def _tables(db: Any, folder: Path, tags: list[str] | None) -> None:
    meta = db.table_metadata(OLD)
    if tags:
        meta["database_tags"] = tags
    cachefiles.write_tables(folder, db.sessions, db.datasets, meta)


def _info(tags: list[str] | None, location: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {"date_created": "2025-01-01 10:00", "min_api_version": "2.10"}
    if tags:
        info["database_tags"] = tags
    if location:
        info["location"] = location
    return info


@pytest.mark.parametrize(("tag", "info", "zip_tags", "downloads"), [
    # Alyx gives no location for the tag: it would serve the full cache.zip (trap D)
    ("Brainwidemap", _info(["Brainwidemap"], None), None, 0),
    # Alyx's cache/info is another tag's, or the full one's
    ("Brainwidemap", _info(["Other"], "http://files/x.zip"), ["Other"], 0),
    ("Brainwidemap", _info(None, "http://files/x.zip"), None, 0),
    # Alyx says the right tag but the zip holds the full tables
    ("Brainwidemap", _info(["Brainwidemap"], "http://files/x.zip"), None, 1),
    # the full set: a tagged cache/info, or a zip of tag tables
    (None, _info(["Brainwidemap"], None), None, 0),
    (None, _info(None, None), ["Brainwidemap"], 1),
], ids=["no-location", "other-tag", "untagged-info", "untagged-zip", "full-tagged-info",
        "full-tagged-zip"])
def test_a_wrong_set_is_never_written_over_the_tables_on_disk(
        tag: str | None, info: dict[str, Any], zip_tags: list[str] | None, downloads: int,
        make_db: Any, cache_dir: Path) -> None:
    db = make_db(20, 3)
    _tables(db, cache_dir, None)
    _tables(db, cache_dir / "Brainwidemap", ["Brainwidemap"])
    fake = FakeAlyx(db, info, zip_tags)
    one = One(client=fake, cache_dir=cache_dir, mode="refresh",  # type: ignore[arg-type]
              connect=False, tag=tag)
    outcome = one.jobs.refresh("refresh")
    assert outcome.kind.failed and "nothing" in outcome.message, outcome
    assert len(fake.downloads) == downloads
    assert fake.asked == [f"cache/info/{tag}/" if tag else "cache/info"]
    assert disk_tags(cache_dir) == () and disk_tags(cache_dir / "Brainwidemap") == (
        "Brainwidemap",)
    assert not list(cache_dir.rglob(".one-tui-download-*"))


def test_the_right_set_is_downloaded_only_when_alyx_has_newer_tables(
        make_db: Any, cache_dir: Path) -> None:
    db = make_db(20, 3)
    info = _info(["Brainwidemap"], "http://files/x.zip")
    fake = FakeAlyx(db, info, ["Brainwidemap"])
    one = One(client=fake, cache_dir=cache_dir, mode="auto",  # type: ignore[arg-type]
              connect=False, tag="Brainwidemap")
    assert one.jobs.refresh("refresh").kind is OutcomeKind.NEW_TABLES
    assert one.jobs.refresh("refresh").kind is OutcomeKind.NOTHING_NEWER
    again = One(client=fake, cache_dir=cache_dir, mode="auto",  # type: ignore[arg-type]
                connect=False, tag="Brainwidemap")  # a new process: trap A
    assert again.jobs.refresh("refresh").kind is OutcomeKind.NOTHING_NEWER
    assert fake.downloads == ["http://files/x.zip"]
    assert not (cache_dir / "sessions.pqt").exists()
    assert disk_tags(cache_dir / "Brainwidemap") == ("Brainwidemap",)


def test_a_tag_folder_is_never_saved_into(make_db: Any, cache_dir: Path) -> None:
    db = make_db(20, 3)
    _tables(db, cache_dir / "Brainwidemap", ["Brainwidemap"])
    one = One(cache_dir=cache_dir, mode="local", tag="Brainwidemap")
    before = (cache_dir / "Brainwidemap" / "sessions.pqt").stat().st_mtime_ns
    extra = one.tables.cache.sessions.iloc[:1].reset_index()
    extra["id"] = "00000000-0000-0000-0000-000000000001"
    one.tables.merge("http://alyx.test", sessions=extra)
    assert one.save_cache() is False
    assert any("release" in n for n in one.notices)
    assert (cache_dir / "Brainwidemap" / "sessions.pqt").stat().st_mtime_ns == before


def test_the_last_set_is_remembered_per_database_in_one_tuis_own_file(
        make_db: Any, cache_dir: Path, home: Path) -> None:
    _tables(make_db(20, 3), cache_dir / "Brainwidemap", ["Brainwidemap"])
    remember_set("http://a.test", "Brainwidemap")
    remember_set("http://b.test", None)
    assert remembered_set("http://a.test") == "Brainwidemap"
    assert remembered_set("http://b.test") is None
    assert not (home / ".one").exists() and state_path().is_file()
    assert str(state_path()).startswith(str(home / ".config" / "one-tui"))
    service = EngineService.open(cache_dir=cache_dir, mode="local")
    offline = service.tags().unwrap()  # no Alyx: the tags whose tables are on this disk
    assert offline is not None and [t.name for t in offline] == ["Brainwidemap"]
    assert offline[0].on_disk and offline[0].problem
    assert service.use_tables("Brainwidemap").kind is OutcomeKind.LOCAL
    assert EngineService.open(cache_dir=cache_dir, mode="local",
                              remembered=True).state().tag == "Brainwidemap"
    assert EngineService.open(cache_dir=cache_dir, mode="local").state().tag is None


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", "full tables", ""])
def test_a_tag_that_could_leave_the_cache_folder_is_refused(bad: str, cache_dir: Path) -> None:
    service = EngineService.open(cache_dir=cache_dir, mode="local")
    assert service.use_tables(bad or "x y").kind is OutcomeKind.FAILED
    assert service.state().tag is None


def test_a_tag_folder_given_as_the_cache_folder_stays_that_tags(
        make_db: Any, cache_dir: Path) -> None:
    """ONE 2.11.2's trap C: auto mode on a tag folder fetched the full tables into it."""
    db = make_db(20, 3)
    folder = cache_dir / "Brainwidemap"
    _tables(db, folder, ["Brainwidemap"])
    fake = FakeAlyx(db, _info(None, None), None)
    one = One(client=fake, cache_dir=folder, mode="auto",  # type: ignore[arg-type]
              connect=False)
    assert one.tag == "Brainwidemap"
    one.jobs.refresh("refresh")
    assert fake.asked == ["cache/info/Brainwidemap/"] and fake.downloads == []
    assert disk_tags(folder) == ("Brainwidemap",)


def test_tag_on_the_command_line_reads_that_sets_tables(
        make_db: Any, cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from one_tui.cli import main

    full, tagged = make_db(30, 4), make_db(12, 9)
    _tables(full, cache_dir, None)
    _tables(tagged, cache_dir / "Brainwidemap", ["Brainwidemap"])
    main(["cache-info", "--cache-dir", str(cache_dir), "--tag", "Brainwidemap", "--json"])
    info = json.loads(capsys.readouterr().out)
    assert info["tag"] == "Brainwidemap" and info["tables"]["sessions"]["rows"] == 12
    main(["cache-info", "--cache-dir", str(cache_dir), "--json"])
    assert json.loads(capsys.readouterr().out)["tables"]["sessions"]["rows"] == 30
    assert main(["search", "--cache-dir", str(cache_dir), "--tag", "Brainwidemap",
                 "--json"]) == 0
    found = {r["eid"] for r in json.loads(capsys.readouterr().out)}
    assert found == {str(e) for e in tagged.sessions.index}
    dest = tmp_path / "frozen"
    assert main(["freeze", str(dest), "--cache-dir", str(cache_dir), "--tag",
                 "Brainwidemap"]) == 0
    assert disk_tags(dest) == ("Brainwidemap",)  # ONE-api recognises the release


def test_with_nothing_set_up_the_public_database_is_offered(home: Path) -> None:
    listed = EngineService.databases().unwrap()
    assert listed is not None
    public = [d for d in listed if d.suggested]
    assert [d.base_url for d in public] == ["https://openalyx.internationalbrainlab.org"]
    assert public[0].username == "intbrainlab"
    assert not (home / ".one").exists()  # offered, nothing written


def test_a_cancelled_switch_to_a_tag_not_on_disk_stays_on_the_set_before(
        make_db: Any, cache_dir: Path) -> None:
    db = make_db(20, 3)
    _tables(db, cache_dir, None)
    fake = FakeAlyx(db, _info(["Brainwidemap"], "http://files/x.zip"), ["Brainwidemap"])
    fake.download_cache_tables = lambda *a, **k: []  # type: ignore[method-assign] # cancelled
    service = EngineService(One(client=fake, cache_dir=cache_dir, mode="auto",  # type: ignore[arg-type]
                                connect=False))
    outcome = service.use_tables("Brainwidemap")
    assert outcome.kind is OutcomeKind.CANCELLED and "still on full" in outcome.message
    assert service.one.tag is None and service.one.tables.has_tables
    assert remembered_set(fake.base_url) is None
