"""Shared test set-up: no test may read or write the developer's real ~/.one or caches."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "one-api"

# Isolate HOME (ONE's settings live in ~/.one) and platformdirs' folders for the whole session,
# before any test module imports the engine.
_home = Path(tempfile.mkdtemp(prefix="one-tui-home-"))
os.environ["HOME"] = str(_home)
os.environ["XDG_CACHE_HOME"] = str(_home / ".cache")
os.environ["XDG_CONFIG_HOME"] = str(_home / ".config")
os.environ.pop("ONE_TUI_CONFIG", None)


@pytest.fixture
def home() -> Path:
    """The isolated HOME, emptied of ONE settings before each test that asks for it."""
    shutil.rmtree(_home / ".one", ignore_errors=True)
    return _home


@pytest.fixture
def fixture_cache(tmp_path: Path) -> Path:
    """A writable copy of ONE-api's legacy test tables and REST responses."""
    dest = tmp_path / "fixture_cache"
    dest.mkdir()
    for name in ("sessions.pqt", "datasets.pqt"):
        shutil.copy(FIXTURES / name, dest / name)
    shutil.copytree(FIXTURES / "rest_responses", dest / ".rest")
    (dest / ".rest" / "openapiv3.json").unlink()
    for f in dest.rglob("*"):
        f.chmod(0o644 if f.is_file() else 0o755)
    return dest
