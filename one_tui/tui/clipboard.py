"""What a copy can honestly say: OSC 52 is sent to the terminal, which may drop it.

"Copied (OSC 52)" was claimed even inside a tmux that dropped it (tmux's default
``set-clipboard external`` refuses an application's OSC 52). Inside tmux the option is read
(one ``tmux show-options`` per copy, a few ms); elsewhere nothing can tell whether the
terminal took it, so the toast says the text was *sent*, and the help says how to check.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from typing import Any, Literal

Severity = Literal["information", "warning", "error"]


def osc52_problem(env: Mapping[str, str] | None = None,
                  run: Callable[..., Any] = subprocess.run) -> str | None:
    """Why an OSC 52 copy will not reach the clipboard, when that can be known."""
    env = os.environ if env is None else env
    if not env.get("TMUX"):
        return None
    try:
        out = run(["tmux", "show-options", "-gv", "set-clipboard"], capture_output=True,
                  text=True, timeout=1, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    value = (out.stdout or "").strip()
    if out.returncode == 0 and value and value != "on":
        return f"tmux (set-clipboard {value}) drops it: set -g set-clipboard on"
    return None


def copied_title(what: str, env: Mapping[str, str] | None = None,
                 run: Callable[..., Any] = subprocess.run) -> tuple[str, Severity]:
    """The toast's title for a copy and its severity."""
    problem = osc52_problem(env, run)
    if problem:
        return f"{what} NOT in the clipboard: {problem}", "warning"
    return f"{what} sent to the clipboard (OSC 52; not there? F1)", "information"
