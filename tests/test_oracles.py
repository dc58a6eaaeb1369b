"""The oracles themselves answer: ONE-api in its venvs, and the real Alyx with its access log."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES
from tests.oracles import VERSIONS


@pytest.mark.oracle
@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_one_api_reads_the_fixture_tables(oracle, version: str, tmp_path: Path) -> None:
    got = oracle(
        version,
        """
        import one
        from one.api import ONE
        o = ONE(cache_dir=ARGS['dir'], mode='local')
        emit({'version': one.__version__, 'n': len(o.search(subject='KS005'))})
        """,
        home=tmp_path,
        args={"dir": str(FIXTURES)},
    )
    assert got == {"version": version, "n": 10}


@pytest.mark.real_alyx
def test_real_alyx_logs_each_request(real_alyx) -> None:
    start = real_alyx.log_offset()
    r = httpx.post(
        f"{real_alyx.base_url}/auth-token",
        data={"username": real_alyx.username, "password": real_alyx.password},
    )
    assert r.status_code == 200 and r.json()["token"]
    assert real_alyx.requests_since(start) == ["POST /auth-token"]
