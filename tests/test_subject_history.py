"""A subject's training history (issue 19): what the subject view plots, from the engine.

The truth is the demo server's own answers (``/sessions/<eid>`` read directly with httpx) and
its tables: the history must say the same per session, in every mode say what it lacks, stay
under Alyx's throttle, and stop when cancelled.
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from one_tui.demo import synth
from one_tui.demo.server import DemoServer
from one_tui.engine import EngineService, Lacking, Mode, Source, Stage
from one_tui.engine.core.history import SubjectHistory, SubjectSession, stage_of, trained_status
from one_tui.engine.remote.pacing import Pacer

NOW = datetime.now().replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def db() -> Any:
    return synth.generate(n_sessions=300, seed=19)


@pytest.fixture
def server(db: Any) -> Any:
    srv = DemoServer(db)
    srv.set_tables_date(NOW)
    with srv:
        yield srv


def busiest(db: Any) -> str:
    """The subject with the most sessions (several protocols)."""
    return str(db.sessions["subject"].value_counts().index[0])


def open_service(server: Any, folder: Path, mode: str = "auto") -> EngineService:
    svc = EngineService.open(base_url=server.url, cache_dir=folder, username="demo",
                             password="demo", mode=mode)
    svc.connect()
    return svc


def server_records(server: Any, eids: list[str]) -> dict[str, dict[str, Any]]:
    with httpx.Client(base_url=server.url) as client:
        token = client.post("/auth-token", data={"username": "demo", "password": "demo"}
                            ).json()["token"]
        client.headers["Authorization"] = f"Token {token}"
        return {e: client.get(f"/sessions/{e}").json() for e in eids}


def test_history_equals_the_servers_records(server, db, cache_dir):
    nickname = busiest(db)
    svc = open_service(server, cache_dir)
    seen: list[tuple[int, int]] = []
    answer = svc.subject_history(nickname, on_progress=lambda d, t: seen.append((d, t)))
    assert answer.ok and answer.source is Source.ALYX
    history = answer.value
    assert history is not None and history.lacking is None
    expected = db.sessions[db.sessions["subject"] == nickname]
    assert sorted(s.eid for s in history.sessions) == sorted(expected.index)
    assert [(s.date, s.number) for s in history.sessions] == sorted(
        (s.date, s.number) for s in history.sessions)  # oldest first
    records = server_records(server, [s.eid for s in history.sessions])
    for s in history.sessions:
        rec = records[s.eid]
        assert (s.n_trials, s.n_correct_trials) == (rec["n_trials"], rec["n_correct_trials"])
        assert s.task_protocol == rec["task_protocol"]
        assert s.date.isoformat() == rec["start_time"][:10]
        if rec["n_trials"] and rec["n_correct_trials"] is not None:
            assert s.performance == round(100 * rec["n_correct_trials"] / rec["n_trials"], 1)
        else:
            assert s.performance is None and s.no_performance
    assert seen[0] == (0, len(history.sessions)) and seen[-1] == (len(history.sessions),) * 2
    # habituation sessions keep their trials but no score, as on the real Alyx
    hab = [s for s in history.sessions if s.stage is Stage.HABITUATION]
    assert all(s.performance is None and s.no_performance for s in hab)
    # the CSV is the same data
    lines = history.csv().splitlines()
    assert len(lines) == len(history.sessions) + 1
    assert all(s.eid in line for s, line in zip(history.sessions, lines[1:], strict=True))


def test_a_second_look_is_answered_by_the_rest_cache(server, db, cache_dir):
    nickname = busiest(db)
    svc = open_service(server, cache_dir)
    svc.subject_history(nickname)
    server.clear_requests()
    again = svc.subject_history(nickname)
    assert again.source is Source.REST_CACHE
    assert not [r for r in server.requests if "/sessions/" in r]
    bypassed = svc.subject_history(nickname, no_cache=True)
    assert bypassed.source is Source.ALYX
    assert len([r for r in server.requests if "/sessions/" in r]) == len(bypassed.value.sessions)


def test_local_mode_keeps_the_protocol_timeline_and_says_performance_needs_alyx(
        server, db, cache_dir):
    nickname = busiest(db)
    svc = open_service(server, cache_dir)
    svc.set_mode(Mode.LOCAL)
    server.clear_requests()
    answer = svc.subject_history(nickname)
    history = answer.value
    assert history.lacking is Lacking.LOCAL_MODE and "needs Alyx" in history.lacking
    assert len(history.sessions) == int((db.sessions["subject"] == nickname).sum())
    assert not history.has_performance and history.fetched == 0
    assert server.requests == []  # local means no request
    stages = [s.stage for s in history.sessions if s.stage is not Stage.NONE]
    assert history.protocol_changes == tuple(
        (s.date, s.stage) for prev, s in zip(
            [x for x in history.sessions if x.stage is not Stage.NONE],
            [x for x in history.sessions if x.stage is not Stage.NONE][1:], strict=False)
        if s.stage is not prev.stage)
    assert len(set(stages)) >= 2


def test_without_a_database_the_history_says_so(db, tmp_path, home):
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(db.cache_zip_bytes(NOW))) as zf:
        zf.extractall(tmp_path)
    svc = EngineService.open(cache_dir=tmp_path, mode="local")
    history = svc.subject_history(busiest(db)).value
    assert history is not None and history.lacking is Lacking.NO_DATABASE
    assert history.sessions


def test_cancel_mid_fetch_returns_what_arrived(server, db, cache_dir):
    nickname = busiest(db)
    svc = open_service(server, cache_dir)
    server.faults.latency = 0.05
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 5:
            cancel.set()

    answer = svc.subject_history(nickname, cancel=cancel, on_progress=progress)
    history = answer.value
    assert answer.cancelled and history.lacking is Lacking.CANCELLED
    assert 5 <= history.fetched < len(history.sessions)
    assert len(history.sessions) == int((db.sessions["subject"] == nickname).sum())


def test_unreachable_alyx_stops_and_says_so(server, db, cache_dir):
    nickname = busiest(db)
    svc = open_service(server, cache_dir)
    server.faults.drop_connections = True
    history = svc.subject_history(nickname).value
    assert history.lacking is Lacking.UNREACHABLE
    assert len(history.sessions) == int((db.sessions["subject"] == nickname).sum())


def test_the_pacer_never_lets_more_than_its_limit_into_a_window():
    now = [0.0]
    pacer = Pacer(limit=3, window=60.0, clock=lambda: now[0])
    tokens = [pacer.acquire() for _ in range(3)]
    cancel = threading.Event()
    cancel.set()
    assert pacer.acquire(cancel) is None  # full: waits, and a cancel ends the wait
    pacer.release(tokens[0])  # an answer from the REST cache gives its slot back
    assert pacer.acquire(cancel) is not None
    now[0] = 61.0
    assert pacer.in_window == 0 and pacer.acquire(cancel) is not None


def test_history_reads_stay_under_the_servers_throttle(server, db, cache_dir):
    """A throttle of 40 a minute and a pacer of 10 a minute: the eleventh read waits (here
    until the cancel), so Alyx never sees more than the pacer allows, though four threads
    read at once."""
    nickname = busiest(db)
    svc = open_service(server, cache_dir)
    server.faults.throttle_per_minute = 40
    svc._pacer = Pacer(limit=10, window=60.0)
    server.clear_requests()
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 9:  # the subject's record and 9 sessions: the pacer's 10 are spent
            cancel.set()

    answer = svc.subject_history(nickname, cancel=cancel, on_progress=progress)
    reads = [r for r in server.requests if "/sessions/" in r or "/subjects/" in r]
    assert len(reads) == 10 and answer.value.fetched == 9  # the subject's record, 9 sessions


def test_stages_and_changes_from_protocols():
    assert stage_of("_iblrig_tasks_habituationChoiceWorld6.4.2") is Stage.HABITUATION
    assert stage_of("_iblrig_tasks_trainingChoiceWorld6.4.2") is Stage.TRAINING
    assert stage_of("_iblrig_tasks_biasedChoiceWorld6.4.2") is Stage.BIASED
    assert stage_of("_iblrig_tasks_ephysChoiceWorld6.4.2/_iblrig_tasks_passiveChoiceWorld6.4.2"
                    ) is Stage.EPHYS
    assert stage_of("") is Stage.NONE and stage_of("someTask") is Stage.OTHER
    days = [date(2024, 1, d) for d in range(1, 6)]
    protocols = ["habituationCW", "trainingCW", "", "trainingCW", "biasedCW"]
    history = SubjectHistory("S", tuple(SubjectSession(str(i), d, 1, p)
                                        for i, (d, p) in enumerate(zip(days, protocols,
                                                                       strict=True))))
    assert history.protocol_changes == ((days[1], Stage.TRAINING), (days[4], Stage.BIASED))


def test_training_status_is_the_latest_of_alyxs_trained_criteria():
    assert trained_status({"json": None}) == (None, None)
    record = {"json": {"trained_criteria": {"trained_1a": ["2024-02-01", "e1"],
                                            "in_training": ["2024-01-10", "e0"],
                                            "ready4ephysrig": ["2024-02-20", "e2"]}}}
    assert trained_status(record) == ("ready4ephysrig", "2024-02-20")
