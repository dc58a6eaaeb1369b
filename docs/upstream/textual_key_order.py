"""Minimal reproduction: a bound key acts after the characters typed behind it (Textual 8.2.8).

Standalone (needs only ``textual``). Run ``python textual_key_order.py``: it starts the app
below in a pseudo-terminal, writes ``ctrl+l`` ``cortex`` ``enter`` in ONE write (what a laggy
SSH link delivers after a stall), and prints what the Input held when enter submitted it.

Expected: ``submitted 'cortex'`` (ctrl+l clears the field, then cortex is typed).
Actual:   ``submitted ''`` -- the clear ran after the six letters were inserted.

The same happens with the Input's own bindings: ``ctrl+a`` then ``x`` inserts x at the END
(``--home``), ``ctrl+u`` then ``x`` deletes the x too (``--kill``).

``python textual_key_order.py --app`` runs the app alone, to type into it by hand (paste the
burst with a terminal's paste disabled, or via ``tmux send-keys``).
"""

from __future__ import annotations

import os
import pty
import select
import sys
import time

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Input

BURSTS = {
    "--clear": (b"\x0ccortex\r", "cortex"),  # screen/app binding ctrl+l, then text
    "--home": (b"abc\x01x\r", "xabc"),  # Input's own binding ctrl+a (home), then x
    "--kill": (b"abc\x15x\r", "x"),  # Input's own binding ctrl+u (delete left all), then x
}


class Repro(App[str]):
    BINDINGS = [Binding("ctrl+l", "clear", "Clear")]

    def compose(self) -> ComposeResult:
        yield Input(id="field")

    def on_mount(self) -> None:
        self.query_one(Input).value = "old text"  # what ctrl+l must clear
        self.query_one(Input).cursor_position = 8

    def action_clear(self) -> None:
        self.query_one(Input).value = ""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.exit(event.value)


def run_in_pty(burst: bytes) -> str:
    """Start this file's app in a pty, write the burst once the app is up, return its answer."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the app, printing what was submitted to stderr
        value = Repro().run()
        os.write(2, f"\nSUBMITTED={value!r}\n".encode())
        os._exit(0)
    out = b""
    deadline = time.monotonic() + 20
    sent = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if not sent and b"old text" in out:  # the first frame is drawn: the app reads keys
            time.sleep(0.5)
            os.write(fd, burst)  # ONE write: the whole burst arrives in one read()
            sent = True
    os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    return text.rsplit("SUBMITTED=", 1)[-1].split("\n", 1)[0].strip() if "SUBMITTED=" in text \
        else "(no answer)"


def main() -> int:
    if "--app" in sys.argv:
        print(Repro().run())
        return 0
    import textual

    print(f"textual {textual.__version__}")
    failed = 0
    for name, (burst, expected) in BURSTS.items():
        got = run_in_pty(burst)
        ok = got == repr(expected)
        failed += not ok
        print(f"{name:8} burst {burst!r}: submitted {got}, expected {expected!r}"
              f" -> {'ok' if ok else 'OUT OF ORDER'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
