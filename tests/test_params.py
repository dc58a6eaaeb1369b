"""ONE's settings files: what one-tui reads from and writes to ~/.one."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from one_tui.engine import params

URL = "http://127.0.0.1:8765"


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "url, key",
    [
        ("https://openalyx.internationalbrainlab.org", "openalyx.internationalbrainlab.org"),
        ("https://openalyx.internationalbrainlab.org/", "openalyx.internationalbrainlab.org"),
        ("HTTP://127.0.0.1:8765", "127.0.0.1_8765"),
        ("https://alyx.example.org/base/", "alyx.example.org_base"),
    ],
)
def test_client_key_matches_one(url: str, key: str) -> None:
    assert params.client_key(url) == key


def test_never_set_up_gives_none(home: Path) -> None:
    assert params.get_settings() is None
    assert params.get_settings(URL) is None


def test_reads_one_setup(home: Path) -> None:
    key = "openalyx.internationalbrainlab.org"
    write(home / ".one" / ".caches", {"CLIENT_MAP": {key: "/data/ONE/openalyx"}, "DEFAULT": key})
    write(
        home / ".one" / f".{key}",
        {
            "ALYX_URL": "https://openalyx.internationalbrainlab.org",
            "ALYX_LOGIN": "intbrainlab",
            "HTTP_DATA_SERVER": "https://ibl.flatironinstitute.org/public",
            "TOKEN": {"intbrainlab": {"token": "abc123"}},
            "ALYX_PWD": "s3cret-Pw",
        },
    )
    s = params.get_settings()
    assert s is not None
    assert s.base_url == "https://openalyx.internationalbrainlab.org"
    assert s.cache_dir == Path("/data/ONE/openalyx")
    assert s.username == "intbrainlab" and s.is_default
    assert s.token_for("intbrainlab") == "abc123" and s.token_for("other") is None
    assert s.password == "s3cret-Pw"
    assert "s3cret-Pw" not in repr(s) and "abc123" not in repr(s)
    assert params.get_settings("https://openalyx.internationalbrainlab.org/") == s


def test_default_cache_dir_when_not_in_client_map(home: Path) -> None:
    write(home / ".one" / ".127.0.0.1_8765", {"ALYX_URL": URL, "ALYX_LOGIN": "demo"})
    s = params.get_settings(URL)
    assert s is not None and not s.is_default
    assert s.cache_dir == home / "Downloads" / "ONE" / "127.0.0.1_8765"


def test_corrupt_json_is_one_clear_line(home: Path) -> None:
    path = home / ".one" / ".caches"
    path.parent.mkdir(parents=True)
    path.write_text('{"CLIENT_MAP": ')
    with pytest.raises(params.ParamsError) as info:
        params.get_settings()
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg and "not valid JSON" in msg


def test_save_token_keeps_other_keys_and_is_private(home: Path) -> None:
    f = home / ".one" / ".127.0.0.1_8765"
    write(f, {"ALYX_URL": URL, "ALYX_LOGIN": "demo", "ALYX_PWD": "from-one", "EXTRA": [1, 2]})
    params.save_token(URL, "demo", "tok1")
    data = json.loads(f.read_text())
    assert data["TOKEN"] == {"demo": {"token": "tok1"}}
    assert data["ALYX_PWD"] == "from-one" and data["EXTRA"] == [1, 2]
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert not [p for p in f.parent.iterdir() if ".tmp-" in p.name]
    params.clear_token(URL, "demo")
    assert json.loads(f.read_text())["TOKEN"] == {}


def test_save_token_creates_private_folder(home: Path) -> None:
    params.save_token(URL, "demo", "tok1")
    assert stat.S_IMODE((home / ".one").stat().st_mode) == 0o700
    s = params.get_settings(URL)
    assert s is not None and s.token_for("demo") == "tok1" and s.username == "demo"


def test_register_database_like_one_setup(home: Path, tmp_path: Path) -> None:
    s = params.register_database(URL, tmp_path / "demo-cache", username="demo")
    caches = json.loads((home / ".one" / ".caches").read_text())
    assert caches == {"CLIENT_MAP": {"127.0.0.1_8765": str(tmp_path / "demo-cache")},
                      "DEFAULT": "127.0.0.1_8765"}
    db = json.loads((home / ".one" / ".127.0.0.1_8765").read_text())
    assert db["ALYX_URL"] == URL and db["ALYX_LOGIN"] == "demo" and "ALYX_PWD" not in db
    assert s.is_default and s.cache_dir == tmp_path / "demo-cache"
    # a second database does not steal the default unless asked
    other = params.register_database("https://alyx.example.org", tmp_path / "other")
    assert not other.is_default
    assert params.get_settings().client_key == "127.0.0.1_8765"
    params.register_database("https://alyx.example.org", tmp_path / "other", make_default=True)
    assert params.get_settings().client_key == "alyx.example.org"


def test_a_database_always_gets_a_default_as_one_setup_gives(home: Path, tmp_path: Path) -> None:
    """ONE's setup sets DEFAULT whenever there is none; a null DEFAULT (written before) made
    ONE-api 3.x's ``ONE()`` look up ``CLIENT_MAP[None]`` and fail."""
    write(home / ".one" / ".caches", {"CLIENT_MAP": {}, "DEFAULT": None})
    params.register_database(URL, tmp_path / "c", make_default=False)
    caches = json.loads((home / ".one" / ".caches").read_text())
    assert caches["DEFAULT"] == "127.0.0.1_8765"


def test_a_login_registers_the_database_once_keeping_a_chosen_folder(home: Path,
                                                                      tmp_path: Path) -> None:
    """Without a ``.caches`` entry ONE's silent setup rewrites ``.<key>`` without the token."""
    params.save_login(URL, "demo", "tok1", tmp_path / "first")
    caches = json.loads((home / ".one" / ".caches").read_text())
    assert caches == {"CLIENT_MAP": {"127.0.0.1_8765": str(tmp_path / "first")},
                      "DEFAULT": "127.0.0.1_8765"}
    params.save_login(URL, "demo", "tok2", tmp_path / "second")  # already registered: kept
    s = params.get_settings(URL)
    assert s is not None and s.cache_dir == tmp_path / "first" and s.token_for("demo") == "tok2"
