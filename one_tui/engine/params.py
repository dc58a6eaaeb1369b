"""ONE's settings in ``~/.one``: read the user's set-up so nothing has to be configured twice.

Files (all JSON, the format ONE-api writes):

* ``.caches``: ``{"CLIENT_MAP": {client_key: cache_dir}, "DEFAULT": client_key}``;
* ``.<client_key>``: ``ALYX_URL``, ``ALYX_LOGIN``, ``HTTP_DATA_SERVER*``, optional ``TOKEN``
  (``{username: {"token": ...}}``) and ``ALYX_PWD``.

one-tui writes tokens and database registrations, never a password. The settings folder is
computed at call time from ``Path.home()`` so tests (and users who change HOME) are honoured.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from one_tui.engine.core import bounded
from one_tui.engine.core.atomic import atomic_write
from one_tui.engine.core.spec import shown

DEFAULT_HTTP_DATA_SERVER = "https://ibl.flatironinstitute.org/public"


class ParamsError(ValueError):
    """A ONE settings file cannot be read; the message names the file in one line."""


@dataclass(frozen=True)
class Settings:
    """One database's settings as ONE stores them (password and tokens hidden from repr)."""

    base_url: str
    client_key: str
    cache_dir: Path
    username: str | None
    is_default: bool
    params_file: Path
    http_data_server: str | None = None
    password: str | None = field(default=None, repr=False)
    tokens: dict[str, str] = field(default_factory=dict, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def token_for(self, username: str | None) -> str | None:
        """The cached Alyx token of ``username``, as ONE saved it, or None."""
        return self.tokens.get(username) if username else None


def params_dir() -> Path:
    """``~/.one`` (``%APPDATA%\\.one`` on Windows), computed now, not at import."""
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / ".one"
    return Path.home() / ".one"


def normalise_base_url(url: str) -> str:
    """A database URL as one-tui keeps and compares it: no surrounding spaces, no trailing
    slash (``https://x.org/`` and ``https://x.org`` are one database). The one place this is
    decided: params, the client and its URL builder all call it (params may not import remote).
    """
    return url.strip().rstrip("/")


def client_key(url: str) -> str:
    """ONE's key for a database URL: lowercase, no protocol or trailing slash, ``_`` for others.

    >>> client_key('https://openalyx.internationalbrainlab.org/')
    'openalyx.internationalbrainlab.org'
    >>> client_key('http://127.0.0.1:8765')
    '127.0.0.1_8765'
    """
    key = re.sub(r"^\w+://", "", normalise_base_url(unquote(url)))
    return re.sub(r"[^\w.\-]", "_", key).lower()


def default_cache_dir(base_url: str | None = None) -> Path:
    """ONE's default data folder: ``~/Downloads/ONE/<client_key>`` (``~/Downloads/ONE``
    without a database), as ONE-api 2.11.2 and 3.6.1 both compute it (``CACHE_DIR_DEFAULT``).

    one-tui once used the platformdirs cache folder in ``One`` and this one in ``AlyxClient``:
    the tables went to one folder and a refresh downloaded a second copy into the other.
    """
    root = Path.home() / "Downloads" / "ONE"
    return root / client_key(base_url) if base_url else root


def resolve_cache_dir(base_url: str | None, cache_dir: str | os.PathLike[str] | None = None,
                      settings: Settings | None = None) -> Path:
    """The data folder of a database, decided here only: the argument, else the folder
    ``~/.one/.caches`` maps it to (what ``ONE()`` uses), else ONE's default.

    ``settings`` saves a second read of ``~/.one`` when the caller already has them.
    """
    if cache_dir:
        return Path(cache_dir).expanduser()
    if settings is None and base_url:
        mapped = read_caches()["CLIENT_MAP"].get(client_key(base_url))
        if isinstance(mapped, str) and mapped:
            return Path(mapped).expanduser()
    if settings is not None:
        return Path(settings.cache_dir)
    return default_cache_dir(base_url)


@dataclass(frozen=True)
class Place:
    """Which database, data folder, user and token a session uses, decided once.

    ``problem`` is a ~/.one file that could not be read (one line); the place was then worked
    out without it, and the caller says so in its own way (a notice, a note on stderr).
    """

    base_url: str | None
    cache_dir: Path
    username: str | None
    token: str | None = field(default=None, repr=False)
    settings: Settings | None = field(default=None, repr=False)
    problem: str | None = None


def resolve_place(base_url: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
                  username: str | None = None) -> Place:
    """The one rule for "which database, folder, user and token", as ONE's ``ONE()`` decides:

    * the database: ``base_url``; else the one whose ``.caches`` folder is ``cache_dir`` (ONE's
      ``check_cache_conflict``: a folder of no database means local only, no URL); else, with
      no ``cache_dir``, ONE's DEFAULT database;
    * the folder: :func:`resolve_cache_dir` (the argument, ``.caches``, ONE's default);
    * the user: ``username``, else the database's ``ALYX_LOGIN``; the token: that user's saved one.
    """
    settings: Settings | None = None
    problem = None
    try:
        settings = _settings_of(base_url, cache_dir)
    except ParamsError as exc:
        problem = str(exc)
    url = base_url or (settings.base_url if settings is not None else None)
    url = normalise_base_url(url) if url else None
    user = username or (settings.username if settings is not None else None)
    return Place(base_url=url, cache_dir=resolve_cache_dir(url, cache_dir, settings),
                 username=user, token=settings.token_for(user) if settings is not None else None,
                 settings=settings, problem=problem)


def _settings_of(base_url: str | None,
                 cache_dir: str | os.PathLike[str] | None) -> Settings | None:
    """The settings of ``base_url``; without it, those of the database whose folder is
    ``cache_dir``, or (no folder either) of the default database."""
    if base_url:
        return get_settings(base_url)
    if cache_dir is None:
        return get_settings()
    folder = Path(cache_dir).expanduser()
    for key, mapped in read_caches()["CLIENT_MAP"].items():
        if Path(str(mapped)).expanduser() == folder:
            return get_settings(key)
    return None


def _read_json(path: Path) -> dict[str, Any] | None:
    """A params file as a dict, None when absent; a clear one-line error when unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ParamsError(f"Cannot read ONE settings file {path}: {exc.strerror}") from None
    try:
        data = bounded.loads(raw)
    except json.JSONDecodeError as exc:
        raise ParamsError(
            f"ONE settings file {path} is not valid JSON (line {exc.lineno}, column {exc.colno});"
            " fix it or run ONE.setup() again"
        ) from None
    except UnicodeDecodeError:
        raise ParamsError(f"ONE settings file {path} is not UTF-8 text; fix it or run "
                          "ONE.setup() again") from None
    except ValueError as exc:  # bounded.TooDeep
        raise ParamsError(f"ONE settings file {path} holds {exc}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"ONE settings file {path} does not hold a JSON object")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (``core.atomic``), mode 0600, creating ``~/.one`` 0700. The temporary
    file is created 0600 too: a token is never readable by others, not even for a moment."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)

    atomic_write(path, write, mode=0o600)


def read_caches() -> dict[str, Any]:
    """The ``.caches`` map (empty ``CLIENT_MAP`` when ONE was never set up)."""
    data = _read_json(params_dir() / ".caches") or {}
    client_map = data.get("CLIENT_MAP")
    data["CLIENT_MAP"] = client_map if isinstance(client_map, dict) else {}
    return data


def _mapped_folder(caches: dict[str, Any], key: str) -> str | None:
    """The folder ``.caches`` maps ``key`` to; ParamsError naming the file when it is not
    text (ONE writes folders as text: anything else is damage, said in one line)."""
    folder = caches["CLIENT_MAP"].get(key)
    if folder is None or isinstance(folder, str):
        return folder
    raise ParamsError(f"ONE settings file {params_dir() / '.caches'}: the folder of {key} is "
                      f"not text ({shown(folder, 40)}); fix it or run ONE.setup() again")


def _tokens(raw: dict[str, Any]) -> dict[str, str]:
    """``TOKEN`` as {username: token}, skipping malformed entries."""
    out: dict[str, str] = {}
    token_map = raw.get("TOKEN")
    if isinstance(token_map, dict):
        for user, value in token_map.items():
            if isinstance(value, dict) and isinstance(value.get("token"), str):
                out[user] = value["token"]
    return out


def get_settings(base_url: str | None = None) -> Settings | None:
    """The settings of ``base_url`` (default: ONE's DEFAULT database); None if never set up."""
    caches = read_caches()
    if base_url is None:
        key = caches.get("DEFAULT")
        if not isinstance(key, str) or not key:
            return None
    else:
        key = client_key(base_url)
    params_file = params_dir() / f".{key}"
    raw = _read_json(params_file)
    mapped = _mapped_folder(caches, key)
    if raw is None and mapped is None:
        return None
    raw = raw or {}
    url = raw.get("ALYX_URL") or base_url
    if not url:
        return None
    url = normalise_base_url(str(url))
    login = raw.get("ALYX_LOGIN")
    pwd = raw.get("ALYX_PWD")
    return Settings(
        base_url=url,
        client_key=key,
        cache_dir=Path(mapped).expanduser() if mapped else default_cache_dir(url),
        username=login if isinstance(login, str) and login else None,
        is_default=caches.get("DEFAULT") == key,
        params_file=params_file,
        http_data_server=raw.get("HTTP_DATA_SERVER"),
        password=pwd if isinstance(pwd, str) and pwd else None,
        tokens=_tokens(raw),
        raw=raw,
    )


def _db_params(base_url: str) -> tuple[Path, dict[str, Any]]:
    """The params file of a database and its content (ONE's defaults when it is new)."""
    path = params_dir() / f".{client_key(base_url)}"
    raw = _read_json(path)
    if raw is None:
        raw = {
            "ALYX_URL": normalise_base_url(base_url),
            "ALYX_LOGIN": None,
            "HTTP_DATA_SERVER": DEFAULT_HTTP_DATA_SERVER,
            "HTTP_DATA_SERVER_LOGIN": None,
            "HTTP_DATA_SERVER_PWD": None,
        }
    return path, raw


def save_token(base_url: str, username: str, token: str) -> None:
    """Store ``token`` under ``TOKEN[username]`` as ONE does, keeping every other key."""
    path, raw = _db_params(base_url)
    saved = raw.get("TOKEN")
    tokens: dict[str, Any] = saved if isinstance(saved, dict) else {}
    tokens[username] = {"token": token}
    raw["TOKEN"] = tokens
    if not raw.get("ALYX_LOGIN"):
        raw["ALYX_LOGIN"] = username
    raw.pop("CACHE_DIR", None)  # ONE keeps the cache dir in .caches only
    _write_json(path, raw)


def save_login(base_url: str, username: str, token: str,
               cache_dir: str | os.PathLike[str] | None = None) -> None:
    """After a login: store the token and register the database in ``.caches`` if it is not.

    Without the ``.caches`` entry ONE's ``params.get`` runs its silent setup, which rewrites
    ``.<key>`` without ``TOKEN``, and the next ``ONE()`` can no longer log in. A database that
    is already registered keeps its folder (the user chose it) and the default is unchanged.
    """
    save_token(base_url, username, token)
    if client_key(base_url) not in read_caches()["CLIENT_MAP"]:
        register_database(base_url, cache_dir=Path(cache_dir) if cache_dir else None)


def clear_token(base_url: str, username: str) -> None:
    """Forget the cached token of ``username`` (logout, or a token Alyx rejected)."""
    path = params_dir() / f".{client_key(base_url)}"
    raw = _read_json(path)
    if not raw or not isinstance(raw.get("TOKEN"), dict) or username not in raw["TOKEN"]:
        return
    del raw["TOKEN"][username]
    _write_json(path, raw)


def register_database(
    base_url: str,
    cache_dir: str | Path | None = None,
    username: str | None = None,
    make_default: bool | None = None,
    http_data_server: str | None = None,
) -> Settings:
    """Add a database to ``.caches`` and write its ``.<client_key>`` file, like ONE's setup.

    ``make_default=None`` makes it the default only when there is none yet (ONE's rule).
    Existing keys (tokens, a password ONE stored) are kept; no password is ever written.
    """
    base_url = normalise_base_url(base_url)
    key = client_key(base_url)
    path, raw = _db_params(base_url)
    raw["ALYX_URL"] = base_url
    if username is not None:
        raw["ALYX_LOGIN"] = username
    if http_data_server is not None:
        raw["HTTP_DATA_SERVER"] = http_data_server
    raw.pop("CACHE_DIR", None)
    _write_json(path, raw)

    caches = read_caches()
    caches["CLIENT_MAP"][key] = str(Path(cache_dir or default_cache_dir(base_url)).expanduser())
    # ONE's rule (``params.setup``): the default when asked, or when there is none. A missing
    # or null DEFAULT makes ONE-api 3.x's ``ONE()`` fail (``CLIENT_MAP[None]``).
    if make_default or not caches.get("DEFAULT"):
        caches["DEFAULT"] = key
    _write_json(params_dir() / ".caches", caches)
    settings = get_settings(base_url)
    assert settings is not None  # just written
    return settings
