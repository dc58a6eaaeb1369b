"""The app's side of the one rule for outside text (``engine.core.spec.inert``).

Rich and Textual strip a few control characters (BEL, CR) but pass ESC through: a subject
``KS\\x1b]52;c;...\\x07`` in a shared table reached the terminal as an OSC 52 (the clipboard),
``\\x1b]0;`` retitled the window, ``\\x1b[2J`` cleared the screen. Every place the app turns
outside text into something drawn goes through here or through ``spec.inert`` itself: plain
strings (``text.plain``, toasts, titles, copies), styled ``Text`` built from records (Details,
status line, Cache pane), and the sessions table's Arrow view (vectorised).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from rich.text import Text

from one_tui.engine.core.spec import inert


class Copies(Protocol):
    """OneApp's copy (inert; newlines kept on request), named without importing the app: the
    error modal's text and the subject view's CSV are copied with their lines."""

    def copy_to_clipboard(self, text: str, *, lines: bool = False) -> None: ...

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["inert", "inert_text", "inert_view"]

#: printable ASCII: a column whose data holds nothing else needs no work (most of them)
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _all_printable_ascii(chunk: pa.Array) -> bool:
    """True when the UTF-8 data of a string array is printable ASCII only (one C-speed pass;
    bytes of values sliced away count too: they only send the column to the exact path)."""
    data = chunk.buffers()[2]
    return data is None or not data.to_pybytes().translate(None, _PRINTABLE_ASCII)


def inert_text(text: Text, lines: bool = True) -> Text:
    """``text`` with each unsafe character written as its escape, styles kept around it
    (newlines and tabs kept when ``lines``: the layout of a multi-line pane)."""
    plain = text.plain
    if plain.isprintable():
        return text
    unsafe = [i for i, c in enumerate(plain) if inert(c, lines) != c]
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
    inert (a byte test of each column's data first: ASCII columns cost a C-speed pass)."""
    import pyarrow as pa

    for i, field in enumerate(view.schema):
        if not pa.types.is_string(field.type):
            continue
        column = view.column(i)
        if all(_all_printable_ascii(chunk) for chunk in column.chunks):
            continue
        values = column.to_pylist()
        if all(v is None or v.isprintable() for v in values):
            continue
        shown = [None if v is None else inert(v) for v in values]
        view = view.set_column(i, field, pa.array(shown, type=pa.string()))
    return view
