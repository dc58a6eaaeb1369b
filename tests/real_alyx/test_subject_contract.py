"""Contracts for the subject view (issue 19): the demo serves ``/sessions/<eid>`` and
``/subjects/<nickname>`` as the real Alyx 3.6.1 does for what the view reads, each server
checked against its own records; and the engine's history of a real subject is those
records."""

from __future__ import annotations

import tempfile
from collections import Counter

import pytest

from one_tui.engine import EngineService, Lacking, Mode, Source, Stage
from one_tui.engine.core.history import stage_of, trained_status
from tests.real_alyx.conftest import Server

pytestmark = pytest.mark.real_alyx


def _subject_records(server: Server) -> dict[str, dict]:
    """Each session's record, read the way the subject view reads it (one by one)."""
    ids = [r["id"] for r in server.all("/sessions")]
    answers = server.get_many([f"/sessions/{i}" for i in ids])
    return {i: r.json() for i, r in zip(ids, answers, strict=True)}


def test_trial_counts_are_kept_as_the_real_alyx_keeps_them(either: Server) -> None:
    """Habituation: trials counted, none scored (n_correct_trials null); a scored session has
    both counts as integers; a session without a protocol has neither."""
    records = _subject_records(either)
    seen = Counter()
    for rec in records.values():
        stage = stage_of(rec["task_protocol"])
        n, correct = rec["n_trials"], rec["n_correct_trials"]
        assert n is None or isinstance(n, int)
        assert correct is None or isinstance(correct, int)
        if stage is Stage.HABITUATION:
            assert isinstance(n, int) and correct is None
        elif stage is Stage.NONE:
            assert n is None and correct is None
        elif correct is not None:
            assert isinstance(n, int) and 0 <= correct <= n
        seen[stage] += 1
    assert seen[Stage.HABITUATION] and seen[Stage.TRAINING] and seen[Stage.EPHYS]


def test_a_subject_record_has_the_fields_the_view_reads(either: Server) -> None:
    nickname = either.all("/subjects")[0]["nickname"]
    rec = either.get(f"/subjects/{nickname}").json()
    assert rec["nickname"] == nickname and "lab" in rec and "json" in rec
    assert trained_status(rec) == (None, None) or trained_status(rec)[0]
    assert either.get("/subjects/no-such-mouse").status_code == 404


def test_the_engines_history_of_a_real_subject_is_its_records(real: Server) -> None:
    records = _subject_records(real)
    nickname = Counter(r["subject"] for r in records.values()).most_common(1)[0][0]
    svc = EngineService.open(base_url=real.base_url, username=real.username,
                             password=real.password, cache_dir=tempfile.mkdtemp(),
                             mode="remote")
    svc.connect()
    answer = svc.subject_history(nickname)
    history = answer.value
    assert answer.source is Source.ALYX and history.lacking is None
    mine = {e: r for e, r in records.items() if r["subject"] == nickname}
    assert {s.eid for s in history.sessions} == set(mine)
    for s in history.sessions:
        rec = mine[s.eid]
        assert (s.n_trials, s.n_correct_trials) == (rec["n_trials"], rec["n_correct_trials"])
        assert s.date.isoformat() == rec["start_time"][:10]
    assert [d for d, _ in history.protocol_changes] == sorted(
        d for d, _ in history.protocol_changes)
    svc.set_mode(Mode.LOCAL)
    assert svc.subject_history(nickname).value.lacking is Lacking.LOCAL_MODE
