"""The app's side of the one rule for outside text (``engine.core.spec.inert``).

Rich and Textual strip a few control characters (BEL, CR) but pass ESC through: a subject
``KS\\x1b]52;c;...\\x07`` in a shared table reached the terminal as an OSC 52 (the clipboard),
``\\x1b]0;`` retitled the window, ``\\x1b[2J`` cleared the screen. Every place the app turns
outside text into something drawn goes through here or through ``spec.inert`` itself: plain
strings (``text.plain``, toasts, titles, copies), styled ``Text`` built from records (Details,
status line, Cache pane), and the sessions table's Arrow view (vectorised).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.text import Text

from one_tui.engine.core.spec import UNSAFE_CHARS, inert

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["inert", "inert_text", "inert_view"]

_UNSAFE = re.compile(UNSAFE_CHARS)
#: UNSAFE_CHARS as UTF-8 bytes: C0 and DEL, C1 (c2 80-9f), U+2028-202E, U+2066-2069
_UNSAFE_UTF8 = re.compile(
    rb"[\x00-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]|\xe2\x81[\xa6-\xa9]")

#: every byte but those an unsafe character's UTF-8 starts with (C0, DEL, c2, e2)
_SAFE_BYTES = bytes(b for b in range(256) if not (b < 0x20 or b in (0x7F, 0xC2, 0xE2)))


def _holds_unsafe(chunk: pa.Array) -> bool:
    """True when the UTF-8 data of a string array may hold an unsafe character (bytes of
    values sliced away count too: they only send the column to the exact, slower path)."""
    data = chunk.buffers()[2]
    if data is None:
        return False
    raw = data.to_pybytes()
    if not raw.translate(None, _SAFE_BYTES):  # no byte that starts one: C speed, most tables
        return False
    return _UNSAFE_UTF8.search(raw) is not None


def inert_text(text: Text, lines: bool = True) -> Text:
    """``text`` with each unsafe character written as its escape, styles kept around it
    (newlines and tabs kept when ``lines``: the layout of a multi-line pane)."""
    unsafe = [m.start() for m in _UNSAFE.finditer(text.plain)
              if not (lines and m.group() in "\n\t")]
    if not unsafe:
        return text
    cuts = sorted({*unsafe, *(i + 1 for i in unsafe)})
    pieces = []
    for piece in text.divide(cuts):
        visible = inert(piece.plain, lines)
        if visible != piece.plain:  # one unsafe character: its escape, in its style
            piece = Text(visible, style=piece.style,
                         spans=[s._replace(start=0, end=len(visible)) for s in piece.spans])
        pieces.append(piece)
    return Text("", style=text.style, justify=text.justify, no_wrap=text.no_wrap,
                end=text.end).join(pieces)


def inert_view(view: pa.Table) -> pa.Table:
    """The table the sessions pane draws, each text cell holding an unsafe character made
    inert (a byte search of each column's data first: 200,000 clean rows cost ~2 ms)."""
    import pyarrow as pa

    for i, field in enumerate(view.schema):
        if not pa.types.is_string(field.type):
            continue
        column = view.column(i)
        if not any(_holds_unsafe(chunk) for chunk in column.chunks):
            continue
        shown = [None if v is None else inert(v) for v in column.to_pylist()]
        view = view.set_column(i, field, pa.array(shown, type=pa.string()))
    return view
