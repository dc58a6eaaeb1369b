"""User settings for the app: a small TOML file, read with the stdlib so start-up stays cheap.

The file is ``$ONE_TUI_CONFIG`` if set, else ``<user config dir>/one-tui/config.toml``::

    theme = "ansi-dark"
    low_bandwidth = true

    [keymap]            # binding id = "keys" (comma-separated), see the help screen for ids
    search_remote = "f7,ctrl+r"
    quit = "ctrl+q"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TuiConfig:
    """What the config file may set; anything missing keeps the default."""

    path: Path | None = None
    keymap: dict[str, str] = field(default_factory=dict)
    theme: str | None = None
    low_bandwidth: bool | None = None
    error: str | None = None  # one line, shown as a toast, when the file could not be read


def config_path() -> Path:
    """Where the config file is looked for (it need not exist)."""
    env = os.environ.get("ONE_TUI_CONFIG")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_path

    return user_config_path("one-tui") / "config.toml"


def load_config(path: Path | None = None) -> TuiConfig:
    """Read the config; a missing file is normal, a broken one is reported, never fatal."""
    path = path or config_path()
    cfg = TuiConfig(path=path)
    if not path.is_file():
        return cfg
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        cfg.error = f"Config {path} ignored: {exc}"
        return cfg
    keymap = data.get("keymap", {})
    if isinstance(keymap, dict):
        cfg.keymap = {str(k): str(v) for k, v in keymap.items() if isinstance(v, str)}
    if isinstance(data.get("theme"), str):
        cfg.theme = data["theme"]
    if isinstance(data.get("low_bandwidth"), bool):
        cfg.low_bandwidth = data["low_bandwidth"]
    return cfg
