"""ONE-api itself as the test oracle: its own virtualenvs, and a way to run code in them.

Tests compare one-tui with the real ONE-api on the same files and servers, so each version gets
a virtualenv of its own (ONE-api pins pandas differently from one-tui). The venvs live outside
the clone (``ONE_TUI_ORACLE_HOME``, default ``/var/tmp/one-tui-oracles``) so a second run on the
same machine reuses them; the first run creates them (about a minute each, from PyPI). Creating
one is guarded by ``flock`` so two test runs on one machine build it once.

A missing venv is built, never skipped: a skip here would hide a missing dependency in CI.

    python -m tests.oracles            # build both venvs up front (what .ci/run does)
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ORACLE_HOME = Path(os.environ.get("ONE_TUI_ORACLE_HOME", "/var/tmp/one-tui-oracles"))

#: What each oracle venv holds. ONE-api 2.11.2 predates pandas 3 (its string dtype changes
#: what ONE 2.x reads back), so it gets the pandas of its time; 3.6.1 takes what it declares.
VERSIONS: dict[str, list[str]] = {
    "3.6.1": ["ONE-api==3.6.1"],
    "2.11.2": ["ONE-api==2.11.2", "pandas==2.2.3", "numpy<2.3"],
}

_PRELUDE = """
import json, sys
ARGS = json.loads(sys.argv[1])
def emit(obj):
    sys.stdout.write("\\n@@ORACLE@@" + json.dumps(obj, default=str) + "\\n")
    sys.stdout.flush()
"""


class OracleError(RuntimeError):
    """The ONE-api script failed: its stderr is in the message."""


def oracle_python(version: str) -> Path:
    """The python of the ONE-api ``version`` venv, built on first use."""
    if version not in VERSIONS:
        raise ValueError(f"no oracle for ONE-api {version!r}; known: {sorted(VERSIONS)}")
    venv = ORACLE_HOME / f"one-api-{version}"
    python = venv / "bin" / "python"
    marker = venv / ".ok"
    if marker.exists():
        return python
    ORACLE_HOME.mkdir(parents=True, exist_ok=True)
    with open(ORACLE_HOME / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return python
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        proc = subprocess.run(pip + VERSIONS[version], capture_output=True, text=True)
        if proc.returncode != 0:
            raise OracleError(f"pip install {VERSIONS[version]} failed:\n{proc.stderr[-3000:]}")
        marker.write_text(" ".join(VERSIONS[version]) + "\n")
    return python


def run_oracle(
    version: str,
    code: str,
    *,
    home: Path,
    args: Any = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> Any:
    """Run ``code`` with ONE-api ``version`` and return what it passed to ``emit(obj)``.

    ``code`` sees ``ARGS`` (the JSON-decoded ``args``) and ``emit``. HOME is ``home`` so ONE's
    ``~/.one`` is the test's own. With ``check=False`` a failing script returns
    ``{"error": <last line of stderr>, "stderr": ...}`` instead of raising, for tests that
    assert how ONE-api fails.
    """
    python = oracle_python(version)
    run_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "TQDM_DISABLE": "1",
    }
    run_env.update(env or {})
    script = _PRELUDE + textwrap.dedent(code)
    proc = subprocess.run(
        [str(python), "-c", script, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=run_env,
        cwd=str(home),
    )
    marker = "@@ORACLE@@"
    found = [line for line in proc.stdout.splitlines() if line.startswith(marker)]
    if proc.returncode != 0 or not found:
        lines = proc.stderr.strip().splitlines() or ["(no output)"]
        if not check:
            return {"error": lines[-1], "stderr": proc.stderr[-4000:]}
        raise OracleError(
            f"ONE-api {version} script failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    return json.loads(found[-1][len(marker) :])


if __name__ == "__main__":
    for v in VERSIONS:
        print(f"ONE-api {v}: {oracle_python(v)}")
