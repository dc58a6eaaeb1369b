"""``~/.one`` shared with ONE-api 2.11.2 and 3.6.1: one data folder, one token, no second login.

ONE-api itself (the ``oracle`` fixture, its own venvs) and the real Alyx are the authority. Each
test runs ONE-api with the same HOME as one-tui, so both read and write the same ``~/.one``.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from one_tui.engine import params
from one_tui.engine.core.errors import AuthenticationError
from one_tui.engine.one import One
from one_tui.engine.remote.client import AlyxClient
from tests.oracles import VERSIONS

pytestmark = pytest.mark.oracle

VERSION_IDS = sorted(VERSIONS)

#: ONE-api code counting its own logins (POST /auth-token), so a login by another user of the
#: shared Alyx's access log cannot be mistaken for one of ONE's.
_COUNT_LOGINS = """
import one.webclient as wc
_posts = []
_post = wc.requests.post
def _counting_post(url, *a, **k):
    _posts.append(url)
    return _post(url, *a, **k)
wc.requests.post = _counting_post
"""


def _populated() -> dict[str, Any]:
    import os

    run = Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run"))
    return json.loads((run / "populated.json").read_text())


@pytest.mark.parametrize("version", VERSION_IDS)
def test_default_data_folder_is_ones(oracle, version: str, home: Path) -> None:
    """ONE's default is ~/Downloads/ONE/<key>; one-tui's One and AlyxClient both use it
    (One used platformdirs' ~/.cache/one-tui/<key>: a second 110 MB copy on refresh)."""
    url = "http://127.0.0.1:9"  # never contacted: local mode
    got = oracle(version, """
        import one.params
        one.params.setup(client=ARGS['url'], silent=True)
        emit({'cache_dir': str(one.params.get_cache_dir(ARGS['url'])),
              'default': one.params.CACHE_DIR_DEFAULT})
        """, home=home, args={"url": url})
    ones = Path(got["cache_dir"])
    assert ones == home / "Downloads" / "ONE" / "127.0.0.1_9"
    shutil.rmtree(home / ".one")  # one-tui alone, ONE never set up: still the same folder
    assert One(url, mode="local").cache_dir == ones
    assert AlyxClient(url).cache_dir == ones
    assert params.resolve_cache_dir(url) == ones
    assert params.default_cache_dir() == Path(got["default"])  # ONE's CACHE_DIR_DEFAULT


@pytest.mark.real_alyx
@pytest.mark.parametrize("version", VERSION_IDS)
def test_after_a_one_tui_login_plain_ONE_finds_the_folder_and_token(
        oracle, version: str, home: Path, real_alyx) -> None:
    """Logging in in one-tui registers the database as ONE's setup does: ``ONE()`` with no
    argument uses the same folder and the saved token, with no password and no new login."""
    eid = _populated()["sessions"][0][0]
    one = One(real_alyx.base_url, username=real_alyx.username, password=real_alyx.password,
              mode="remote")
    assert one.alyx.is_logged_in and one.fallback_reason is None
    saved = params.get_settings(real_alyx.base_url)
    assert saved is not None and saved.token_for(real_alyx.username)
    got = oracle(version, _COUNT_LOGINS + textwrap.dedent("""
        from one.api import ONE
        o = ONE()
        rec = o.alyx.rest('sessions', 'read', id=ARGS['eid'])
        emit({'cache_dir': str(o.cache_dir), 'url': o.alyx.base_url, 'user': o.alyx.user,
              'eid': rec['id'], 'logins': _posts})
        """), home=home, args={"eid": eid}, check=False)
    assert "error" not in got, got.get("stderr")
    assert got["logins"] == []  # the token one-tui saved, no password needed
    assert got["eid"] == eid and got["user"] == real_alyx.username
    assert got["url"] == real_alyx.base_url
    assert Path(got["cache_dir"]) == one.cache_dir
    # ONE's setup has not dropped the token from the file either: one-tui still finds it
    after = params.get_settings(real_alyx.base_url)
    assert after is not None and after.token_for(real_alyx.username) == saved.token_for(
        real_alyx.username)


@pytest.mark.real_alyx
@pytest.mark.parametrize("version", VERSION_IDS)
def test_after_a_one_login_one_tui_needs_no_password(oracle, version: str, home: Path,
                                                      real_alyx, monkeypatch) -> None:
    """The reverse: what ONE's setup and login wrote is what one-tui reads (folder, token)."""
    got = oracle(version, """
        from one.api import ONE
        o = ONE(base_url=ARGS['url'], username=ARGS['user'], password=ARGS['pwd'], silent=True,
                mode='local')
        emit({'cache_dir': str(o.cache_dir)})
        """, home=home, args={"url": real_alyx.base_url, "user": real_alyx.username,
                              "pwd": real_alyx.password})
    posts: list[str] = []
    real_post = httpx.Client.post

    def counting_post(self: httpx.Client, url: Any, *a: Any, **k: Any) -> httpx.Response:
        posts.append(str(url))
        return real_post(self, url, *a, **k)

    monkeypatch.setattr(httpx.Client, "post", counting_post)
    one = One(mode="remote")  # no argument at all: ONE's default database
    assert one.alyx is not None and one.alyx.base_url == real_alyx.base_url
    assert one.cache_dir == Path(got["cache_dir"])
    eids = one.search(subject="KS001", query_type="remote")
    assert eids and one.fallback_reason is None
    assert posts == []


@pytest.mark.real_alyx
@pytest.mark.parametrize("version", VERSION_IDS)
def test_a_wrong_password_fails_even_with_a_saved_token(oracle, version: str, home: Path,
                                                        real_alyx) -> None:
    """ONE logs in whenever a password is given, so a wrong one fails; one-tui did not log in
    at all when a token was saved, and the wrong password "worked"."""
    One(real_alyx.base_url, username=real_alyx.username, password=real_alyx.password,
        mode="remote")  # a good login: a token is saved
    ones = oracle(version, _COUNT_LOGINS + textwrap.dedent("""
        from one.api import ONE
        try:
            ONE(base_url=ARGS['url'], username=ARGS['user'], password='wrong-password',
                silent=True, mode='local')
            emit({'failed': False, 'logins': _posts})
        except Exception as exc:
            emit({'failed': True, 'why': str(exc), 'logins': _posts})
        """), home=home, args={"url": real_alyx.base_url, "user": real_alyx.username})
    assert ones["failed"] and len(ones["logins"]) == 1  # the authority: a login, refused
    One(real_alyx.base_url, username=real_alyx.username, password=real_alyx.password,
        mode="remote")  # ONE dropped the token before its failed login: save one again
    assert params.get_settings(real_alyx.base_url).token_for(real_alyx.username)

    start = real_alyx.log_offset()
    wrong = One(real_alyx.base_url, username=real_alyx.username, password="wrong-password",
                mode="remote")
    assert wrong.mode == "local" and "login refused (400)" in (wrong.fallback_reason or "")
    assert "POST /auth-token" in real_alyx.requests_since(start)
    client = AlyxClient(real_alyx.base_url, username=real_alyx.username,
                        password="wrong-password", cache_dir=wrong.cache_dir)
    with pytest.raises(AuthenticationError):
        client.rest("sessions", "list", subject="KS001")
