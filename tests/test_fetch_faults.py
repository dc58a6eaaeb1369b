"""The download job against a file server that misbehaves (loopback, port 0).

What a user would notice: every file that ends up under ONE's name has the table's size and
md5; a failure names the file and why (401 names the settings to fix); the other files of a
batch complete; a broken transfer resumes with ``Range``; nothing waits for ever.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from one_tui.engine import EngineService, FetchKind
from one_tui.engine.fetch.job import FetchLimits, run_download
from one_tui.engine.local.ondisk import PARTIAL_SUFFIX
from tests.fetch_server import BASE_URL, FaultServer, SmallCache, small_cache

FAST = FetchLimits(connect=2, read=1.0, stall=8, attempts=5, backoff=0.05, backoff_cap=0.2)


@pytest.fixture
def server():
    srv = FaultServer()
    yield srv
    srv.close()


@pytest.fixture
def data(tmp_path: Path, home: Path, server: FaultServer) -> SmallCache:
    return small_cache(tmp_path, home, server)


def _service(data: SmallCache) -> EngineService:
    return EngineService.open(base_url=BASE_URL, cache_dir=data.folder, mode="local")


def _download(data: SmallCache, limits: FetchLimits = FAST, cancel=None, **selectors):
    service = _service(data)
    plan = service.plan_download([data.eid], **selectors).unwrap()
    assert plan is not None
    return run_download(service.one, plan, limits=limits, cancel=cancel)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _finals_are_right(data: SmallCache) -> list[str]:
    """The rel_paths under ONE's name; fails if any of them is not the table's bytes."""
    found = []
    for row in data.rows:
        target = data.target(row)
        if target.exists():
            assert target.stat().st_size == row["file_size"], row["rel_path"]
            assert _md5(target) == row["hash"], row["rel_path"]
            found.append(row["rel_path"])
    return found


def _outcome(report, row):
    (found,) = [o for o in report.outcomes if o.task.dataset_id == row["id"]]
    return found


def _partials(data: SmallCache) -> list[Path]:
    return sorted(data.folder.rglob(f"*{PARTIAL_SUFFIX}"))


def test_one_request_per_file_and_every_file_verified(data, server) -> None:
    tables = (data.folder / "datasets.pqt").read_bytes()
    report = _download(data)
    assert report.ok and report.count(FetchKind.DONE) == len(data.rows)
    assert len(_finals_are_right(data)) == len(data.rows)
    # the login goes up front: one 200 per file, no 401 challenge first (ONE sends two)
    assert [r[2] for r in server.requests()] == [200] * len(data.rows)
    assert not _partials(data)
    assert (data.folder / "datasets.pqt").read_bytes() == tables  # ONE's tables untouched
    again = _download(data)
    assert again.count(FetchKind.VERIFIED) == len(data.rows)
    assert len(server.requests()) == len(data.rows)  # nothing fetched twice


def test_a_truncated_body_is_resumed_with_range(data, server) -> None:
    path = data.url_path(data.rows[0])
    server.fault(path, "truncate")
    report = _download(data)
    assert report.ok
    statuses = [(r[2], r[3]) for r in server.requests(path)]
    assert statuses[0] == (200, None)
    assert statuses[1][0] == 206 and statuses[1][1].startswith("bytes=")
    assert _outcome(report, data.rows[0]).resumed_from > 0
    assert len(_finals_are_right(data)) == len(data.rows)


def test_a_stalled_server_times_out_and_the_file_resumes(data, server) -> None:
    path = data.url_path(data.rows[1])
    server.fault(path, "stall")
    started = time.monotonic()
    report = _download(data)
    assert time.monotonic() - started < 10  # ONE waits for ever (no timeout)
    assert report.ok
    assert [r[2] for r in server.requests(path)] == [200, 206]
    assert len(_finals_are_right(data)) == len(data.rows)


def test_a_stall_that_never_ends_fails_with_its_reason(data, server) -> None:
    path = data.url_path(data.rows[0])
    server.fault(path, *["stall"] * 20)
    limits = FetchLimits(connect=2, read=0.5, stall=2, attempts=20, backoff=0.05,
                         backoff_cap=0.1)
    report = _download(data, limits)
    first = _outcome(report, data.rows[0])
    assert first.kind is FetchKind.FAILED and "timed out" in first.reason
    assert "no progress" in first.reason or "attempts" in first.reason
    assert report.count(FetchKind.DONE) == len(data.rows) - 1
    assert data.rows[0]["rel_path"] not in _finals_are_right(data)


def test_401_names_the_settings_to_fix(data, server) -> None:
    server.login = ("iblmember", "another password")
    report = _download(data)
    assert not report.ok and report.count(FetchKind.FAILED) == len(data.rows)
    for outcome in report.outcomes:
        assert outcome.status == 401
        assert "HTTP_DATA_SERVER_LOGIN" in outcome.reason
        assert "HTTP_DATA_SERVER_PWD" in outcome.reason
    assert _finals_are_right(data) == [] and not _partials(data)


def test_a_404_in_a_batch_names_the_file_and_the_others_complete(data, server) -> None:
    missing = data.rows[2]
    del server.files[data.url_path(missing)]
    report = _download(data)
    failed = report.failed
    assert [o.task.rel_path for o in failed] == [missing["rel_path"]]
    assert failed[0].status == 404 and "404" in failed[0].reason
    assert missing["rel_path"].rsplit("/", 1)[-1] in report.message
    done = _finals_are_right(data)
    assert sorted(done) == sorted(r["rel_path"] for r in data.rows if r is not missing)
    # no stranded name.<uuid>.ext as ONE leaves them
    assert not [p for p in data.folder.rglob("*") if p.is_file()
                and any(r["id"] in p.name for r in data.rows)]


def test_429_waits_for_retry_after(data, server) -> None:
    path = data.url_path(data.rows[0])
    server.fault(path, "429")
    started = time.monotonic()
    report = _download(data)
    assert report.ok
    assert [r[2] for r in server.requests(path)] == [429, 200]
    assert time.monotonic() - started >= 1.0  # Retry-After: 1


def test_a_body_whose_hash_does_not_match_is_fetched_again(data, server) -> None:
    path = data.url_path(data.rows[0])
    server.fault(path, "bad-bytes")
    report = _download(data)
    assert report.ok and len(_finals_are_right(data)) == len(data.rows)
    assert [r[2] for r in server.requests(path)] == [200, 200]


def test_a_body_that_never_matches_fails_and_leaves_nothing_under_its_name(data, server
                                                                           ) -> None:
    path = data.url_path(data.rows[0])
    server.fault(path, *["bad-bytes"] * 10)
    report = _download(data)
    outcome = _outcome(report, data.rows[0])
    assert outcome.kind is FetchKind.FAILED and "md5 mismatch" in outcome.reason
    assert not data.target(data.rows[0]).exists()
    assert not _partials(data)
    assert len(_finals_are_right(data)) == len(data.rows) - 1


def _half_partial(data: SmallCache, row: dict) -> Path:
    from one_tui.engine.local.ondisk import partial_path

    body = data.files[data.url_path(row)]
    part = partial_path(data.target(row), row["hash"])
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(body[: len(body) // 2])
    return part


def test_a_partial_is_resumed_with_range(data, server) -> None:
    row = data.rows[0]
    _half_partial(data, row)
    report = _download(data)
    assert report.ok
    requests = server.requests(data.url_path(row))
    assert [r[2] for r in requests] == [206]
    assert _outcome(report, row).bytes == row["file_size"] - row["file_size"] // 2
    assert len(_finals_are_right(data)) == len(data.rows) and not _partials(data)


@pytest.mark.parametrize("fault", ["ignore-range", "wrong-range"])
def test_a_server_that_does_not_honour_range_gets_a_fresh_start(data, server, fault) -> None:
    row = data.rows[0]
    part = _half_partial(data, row)
    part.write_bytes(b"\0" * part.stat().st_size)  # a resume would keep these wrong bytes
    server.fault(data.url_path(row), fault)
    report = _download(data)
    assert report.ok, report.message
    assert len(_finals_are_right(data)) == len(data.rows) and not _partials(data)


def test_cancel_stops_at_once_and_keeps_the_partial_for_resume(data, server) -> None:
    row = data.rows[0]
    server.stall_seconds = 60
    server.fault(data.url_path(row), "stall")
    cancel = threading.Event()
    limits = FetchLimits(read=30, stall=60, attempts=3, backoff=0.05)
    timer = threading.Timer(0.8, cancel.set)
    timer.start()
    started = time.monotonic()
    report = _download(data, limits, cancel=cancel, dataset_ids=[row["id"]])
    assert time.monotonic() - started < 5
    assert report.cancelled and _outcome(report, row).kind is FetchKind.CANCELLED
    assert not data.target(row).exists()
    assert len(_partials(data)) == 1
    report = _download(data, dataset_ids=[row["id"]])
    assert report.ok and _outcome(report, row).resumed_from > 0
    assert server.requests(data.url_path(row))[-1][2] == 206


def test_a_selection_that_matches_nothing_says_so(data) -> None:
    answer = _service(data).plan_download([data.eid], dataset="no_such_dataset")
    assert answer.value is None and "nothing matches" in str(answer.error)
    assert "no_such_dataset" in str(answer.error)


def test_progress_events_add_up(data) -> None:
    service = _service(data)
    plan = service.plan_download([data.eid]).unwrap()
    events = []
    report = run_download(service.one, plan, limits=FAST, on_progress=events.append)
    assert report.ok
    last = events[-1]
    assert last.files_left == 0 and last.done_bytes == last.total_bytes == plan.fetch_bytes
    finished = [e.finished.task.rel_path for e in events if e.finished is not None]
    assert sorted(finished) == sorted(r["rel_path"] for r in data.rows)
