"""The engine must stay free of the UI, and the command line must start without the data stack.

Each check runs in a fresh interpreter, as a user's process would (harlequin does the same).
"""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    # httpx imports its optional command line (click + rich) when click is installed (import-linter
    # brings it in the test environment); that is httpx's, not ours, so the probe leaves it out.
    probe = ("import sys\nsys.modules['httpx._main'] = None\n"
             f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))")
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_engine_import_loads_neither_textual_nor_rich() -> None:
    loaded = _modules_after("import one_tui.engine")
    assert not {"textual", "rich"} & loaded


def test_every_engine_module_is_free_of_the_ui() -> None:
    code = (
        "import pkgutil, importlib, one_tui.engine as e\n"
        "for m in pkgutil.walk_packages(e.__path__, 'one_tui.engine.'):\n"
        "    importlib.import_module(m.name)"
    )
    loaded = _modules_after(code)
    assert not {"textual", "rich"} & loaded
    # the walk goes into the engine's subpackages (core, local, remote, ...), not only its top
    ours = {m for m in loaded if m.startswith("one_tui.engine.")}
    assert {"one_tui.engine.core", "one_tui.engine.local", "one_tui.engine.remote"} <= ours
    assert any(m.count(".") >= 3 for m in ours), sorted(ours)


def test_cli_help_does_not_import_the_data_stack_or_textual() -> None:
    code = (
        "import contextlib, io\n"
        "from one_tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass"
    )
    loaded = _modules_after(code)
    assert not {"textual", "pandas", "pyarrow", "httpx"} & loaded


def test_local_one_does_not_import_httpx(tmp_path) -> None:
    """A local-only start (a cluster job, `--mode local`) does not pay for the HTTP stack."""
    code = f"from one_tui.engine.one import One\nOne(cache_dir={str(tmp_path)!r}, mode='local')"
    assert "httpx" not in _modules_after(code)
