"""What a download says (tui/downloads.py), without an app: the end toast for each way a batch
ends, the ETA, the plan's numbers, the panel's lines."""

from __future__ import annotations

from pathlib import Path

from one_tui.engine import (
    ActiveFile,
    DownloadPlan,
    DownloadReport,
    FailCause,
    FetchKind,
    FetchProgress,
    FileOutcome,
    FileTask,
)
from one_tui.text import fmt_seconds
from one_tui.tui import downloads


def task(i: int, size: int = 1000) -> FileTask:
    return FileTask(eid="e", dataset_id=f"id{i}", rel_path=f"alf/d{i}.npy", collection="alf",
                    revision="", file_size=size, hash=None, url=f"http://x/d{i}",
                    target=Path(f"/c/d{i}.npy"), session_path="lab/Subjects/s/2024-01-01/001")


def out(i: int, kind: FetchKind, cause: FailCause | None = None, status: int | None = None
        ) -> FileOutcome:
    return FileOutcome(task(i), kind, "why" if kind is FetchKind.FAILED else "", status,
                       cause=cause)


def test_the_end_toast_names_the_settings_for_401_and_the_file_for_404() -> None:
    report = DownloadReport((out(0, FetchKind.DONE), out(1, FetchKind.VERIFIED),
                             out(2, FetchKind.FAILED, FailCause.NOT_FOUND, 404)), 1000, 1.0)
    text, severity = downloads.report_toast(report, "3 datasets")
    assert "HTTP 404" in text and "alf/d2.npy" in text and severity == "warning"
    assert "The other 2 files are complete and verified (1 downloaded now)" in text
    assert "HTTP_DATA_SERVER" not in text
    login = DownloadReport(tuple(out(i, FetchKind.FAILED, FailCause.LOGIN, 401)
                                 for i in range(3)), 0, 0.2)
    text, severity = downloads.report_toast(login, "3 datasets")
    assert "HTTP_DATA_SERVER_LOGIN and HTTP_DATA_SERVER_PWD" in text and severity == "error"
    assert "complete" not in text


def test_a_cancelled_download_says_the_partials_are_kept_and_a_clean_one_says_done() -> None:
    cancelled = DownloadReport((out(0, FetchKind.DONE), out(1, FetchKind.CANCELLED)), 10, 1.0,
                               cancelled=True)
    text, severity = downloads.report_toast(cancelled, "2 datasets")
    assert "cancelled" in text and "Partial files are kept" in text and severity == "warning"
    done = DownloadReport((out(0, FetchKind.DONE),), 10, 1.0)
    text, severity = downloads.report_toast(done, "1 dataset")
    assert text.startswith("Download done (1 dataset): 1 downloaded") and severity == "information"


def test_eta_plan_and_panel_lines() -> None:
    assert [fmt_seconds(s) for s in (None, 8.4, 185, 3720)] == [
        "–", "8 s", "3 min 05 s", "1 h 02 min"]
    plan = DownloadPlan(tasks=(task(0), task(1, 2_000_000)), to_fetch=(task(1, 2_000_000),),
                        total_bytes=2_001_000, fetch_bytes=2_000_000, free_bytes=500_000,
                        cache_dir=Path("/c"), refusal="does not fit")
    assert downloads.plan_summary(plan) == (
        "1 file, 2.0 MB to fetch (1 already on this disk); 500.0 kB free in /c")
    assert downloads.refusal_text(plan, "x").startswith("Not downloaded (x): does not fit.")
    p = FetchProgress(500, 2000, 1000.0, 1.5, 1, 3, (ActiveFile(task(1), 250, 1000),))
    lines = downloads.progress_text(p).plain.splitlines()
    assert "25%" in lines[0] and "500 B of 2.0 kB" in lines[0] and "ETA 2 s" in lines[0]
    assert lines[1].startswith(" 2 of 3 files left") and "alf/d1.npy" in lines[2]
    assert downloads.phase_text(p) == "downloading 25%, 2 files left — esc cancels"
