"""What is on this disk, as ONE-api would see it, and checking it once (issue 20).

SHA-1 and empty hashes (ONE re-downloads those on every load), verify once then only what
changed, a file of another size shown as damaged in Details, ``uuid_filenames``, a public
data server without a login, a plan that does not fit, ``ONE_HTTP_DL_THREADS``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from one_tui.engine import DiskState, EngineService, FetchKind
from one_tui.engine.fetch import plan as plan_module
from one_tui.engine.fetch.job import FetchLimits, default_jobs, run_download
from one_tui.engine.local.ondisk import with_uuid
from tests.fetch_server import BASE_URL, FaultServer, small_cache

FAST = FetchLimits(connect=2, read=2, stall=8, attempts=4, backoff=0.05, backoff_cap=0.2)


@pytest.fixture
def server():
    srv = FaultServer()
    yield srv
    srv.close()


def _service(folder: Path) -> EngineService:
    return EngineService.open(base_url=BASE_URL, cache_dir=folder, mode="local")


def test_sha1_and_empty_hashes_are_checked_by_their_length_and_not_fetched_again(
        tmp_path, home, server) -> None:
    data = small_cache(tmp_path, home, server, hashes="mixed")
    assert {len(r["hash"]) for r in data.rows} == {32, 40, 0}
    service = _service(data.folder)
    plan = service.plan_download([data.eid]).unwrap()
    assert run_download(service.one, plan, limits=FAST).ok
    sha1_row = next(r for r in data.rows if len(r["hash"]) == 40)
    server.fault(data.url_path(sha1_row), "bad-bytes", "bad-bytes", "bad-bytes", "bad-bytes")
    data.target(sha1_row).unlink()
    failed = run_download(service.one, service.plan_download([data.eid]).unwrap(),
                          limits=FAST)
    (bad,) = failed.failed
    assert bad.task.dataset_id == sha1_row["id"] and "sha1 mismatch" in bad.reason
    server.faults.clear()
    assert run_download(service.one, service.plan_download([data.eid]).unwrap(),
                        limits=FAST).ok
    again = service.plan_download([data.eid]).unwrap()
    assert again.to_fetch == ()  # ONE downloads '' and sha1 datasets on every load
    report = service.check_disk([data.eid]).unwrap()
    assert report.ok
    verified = {f.task.dataset_id: f.verified for f in report.findings}
    assert all(verified[r["id"]] == bool(r["hash"]) for r in data.rows)


def test_verify_once_then_only_what_changed(tmp_path, home, server) -> None:
    data = small_cache(tmp_path, home, server)
    service = _service(data.folder)
    assert run_download(service.one, service.plan_download([data.eid]).unwrap(),
                        limits=FAST).ok
    first = service.check_disk([data.eid]).unwrap()
    assert first.ok and first.hashed_bytes == 0  # the download verified them as they came
    touched = data.target(data.rows[0])
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same bytes, new mtime
    second = service.check_disk([data.eid]).unwrap()
    assert second.ok and second.hashed_bytes == data.rows[0]["file_size"]
    assert service.check_disk([data.eid]).unwrap().hashed_bytes == 0
    everything = service.check_disk([data.eid], verify=True).unwrap()
    assert everything.hashed_bytes == sum(r["file_size"] for r in data.rows)
    # a right-size file with other bytes is caught by the hash and fetched again
    body = touched.read_bytes()
    touched.write_bytes(bytes(255 - b for b in body[:10]) + body[10:])
    bad = service.check_disk([data.eid]).unwrap()
    assert [f.state for f in bad.problems] == [DiskState.HASH_MISMATCH]
    plan = service.plan_download([data.eid]).unwrap()
    assert [t.dataset_id for t in plan.to_fetch] == [data.rows[0]["id"]]


def test_details_show_a_file_of_another_size_as_damaged_not_on_disk(tmp_path, home, server
                                                                   ) -> None:
    data = small_cache(tmp_path, home, server)
    right, short = data.rows[0], data.rows[1]
    for row, n in ((right, right["file_size"]), (short, 288)):
        data.target(row).parent.mkdir(parents=True, exist_ok=True)
        data.target(row).write_bytes(data.files[data.url_path(row)][:n])
    details = _service(data.folder).session_details(data.eid).unwrap()
    rows = {r.id: r for r in details.datasets}
    assert rows[right["id"]].on_disk and rows[right["id"]].disk is DiskState.OK
    assert rows[short["id"]].on_disk is False
    assert rows[short["id"]].disk is DiskState.SIZE_MISMATCH
    assert details.disk.n_on_disk == 1
    assert details.disk.bytes_on_disk == right["file_size"]  # the 288 bytes do not count


def test_uuid_filenames_downloads_to_ones_uuid_names(tmp_path, home, server) -> None:
    data = small_cache(tmp_path, home, server)
    service = _service(data.folder)
    plan = service.plan_download([data.eid], uuid_filenames=True).unwrap()
    assert run_download(service.one, plan, limits=FAST).ok
    for row in data.rows:
        named = data.folder / data.session_path / with_uuid(row["rel_path"], row["id"])
        assert named.is_file() and not data.target(row).exists()
    # ONE's default (uuid_filenames off): they are stranded, and finalise makes them ONE's
    report = service.check_disk([data.eid], uuid_filenames=False).unwrap()
    assert {f.state for f in report.findings} == {DiskState.STRANDED}
    from one_tui.engine import DiskAction

    outcome = service.fix_disk(report.findings, DiskAction.FINALISE)
    assert not outcome.failed and str(len(data.rows)) in outcome.message
    assert service.check_disk([data.eid], uuid_filenames=False).unwrap().ok


def test_a_public_data_server_needs_no_login(tmp_path, home) -> None:
    server = FaultServer(login=None)
    try:
        data = small_cache(tmp_path, home, server)
        service = _service(data.folder)
        report = run_download(service.one, service.plan_download([data.eid]).unwrap(),
                              limits=FAST)
        assert report.ok and report.count(FetchKind.DONE) == len(data.rows)
    finally:
        server.close()


def test_a_plan_that_does_not_fit_is_refused_with_the_numbers(tmp_path, home, server,
                                                            monkeypatch) -> None:
    data = small_cache(tmp_path, home, server)
    monkeypatch.setattr(plan_module, "free_space", lambda folder: 1000)
    service = _service(data.folder)
    plan = service.plan_download([data.eid]).unwrap()
    assert not plan.fits and "does not fit" in plan.refusal and "MB free" in plan.refusal
    answer = service.download(plan)
    assert answer.value is None and "does not fit" in str(answer.error)
    assert server.requests() == []


def test_one_http_dl_threads_is_honoured(monkeypatch) -> None:
    monkeypatch.setenv("ONE_HTTP_DL_THREADS", "7")
    assert default_jobs() == 7
    monkeypatch.delenv("ONE_HTTP_DL_THREADS")
    assert default_jobs() == 4


def test_urls_and_the_public_server_as_one_builds_them(home) -> None:
    import json

    from one_tui.engine import One
    from one_tui.engine.fetch.plan import data_server
    from one_tui.engine.fetch.urls import dataset_url
    from one_tui.engine.params import client_key

    uid = "4e87efaa-4c07-509b-a781-7cb18f451127"
    assert dataset_url("https://srv/", "lab/Subjects/S1/2024-01-02/001",
                       "alf/#2024-05-06#/_ibl_trials.table.pqt", uid) == (
        f"https://srv/lab/Subjects/S1/2024-01-02/001/alf/%232024-05-06%23/"
        f"_ibl_trials.table.{uid}.pqt")
    url = "https://openalyx.internationalbrainlab.org"
    (home / ".one").mkdir(parents=True, exist_ok=True)
    (home / ".one" / f".{client_key(url)}").write_text(json.dumps({
        "ALYX_URL": url, "ALYX_LOGIN": "intbrainlab",
        "HTTP_DATA_SERVER": "https://ibl.flatironinstitute.org",
        "HTTP_DATA_SERVER_LOGIN": None, "HTTP_DATA_SERVER_PWD": None}))
    one = One(base_url=url, cache_dir=home / "public", mode="local", silent=True,
              connect=False)
    # one.params._patch_params: openalyx always downloads from the public area, no login
    assert data_server(one) == ("https://ibl.flatironinstitute.org/public", None)


def test_a_leftover_partial_beside_a_good_file_is_found_and_removed(tmp_path, home, server
                                                                   ) -> None:
    from one_tui.engine import DiskAction
    from one_tui.engine.local.ondisk import partial_path

    data = small_cache(tmp_path, home, server)
    service = _service(data.folder)
    assert run_download(service.one, service.plan_download([data.eid]).unwrap(),
                        limits=FAST).ok
    row = data.rows[0]
    stale = partial_path(data.target(row), "0" * 32)  # bytes of an older version
    stale.write_bytes(b"old")
    report = service.check_disk([data.eid]).unwrap()
    (left,) = report.problems
    assert left.state is DiskState.PARTIAL and left.path == stale
    assert left.actions == (DiskAction.REMOVE,)
    assert not service.fix_disk(report.problems, DiskAction.REMOVE).failed
    assert not stale.exists() and data.target(row).exists()
    assert service.check_disk([data.eid]).unwrap().ok


def test_a_rel_path_leading_outside_the_folder_is_never_fetched(tmp_path, home, server
                                                               ) -> None:
    from one_tui.engine.local.fileformat import read_table
    from one_tui.engine.local.filewrite import save_table

    data = small_cache(tmp_path, home, server)
    frame, meta = read_table(data.folder / "datasets.pqt")
    frame = frame.reset_index()
    frame["rel_path"] = frame["rel_path"].astype(str)
    hostile = frame.index[frame.id == data.rows[0]["id"]][0]
    frame.loc[hostile, "rel_path"] = "alf/../../../../../outside/_ibl_trials.escape.npy"
    save_table(frame.set_index(["eid", "id"]), data.folder / "datasets.pqt", meta)
    answer = _service(data.folder).plan_download([data.eid])
    plan = answer.unwrap()
    assert data.rows[0]["id"] not in {t.dataset_id for t in plan.tasks}
    assert len(plan.tasks) == len(data.rows) - 1
    assert any("outside the cache folder" in n for n in answer.notices)
