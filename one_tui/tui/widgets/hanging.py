"""Text whose long lines wrap under themselves, not at column 0 (issue 18, item 10).

A dataset folder or a cache path longer than the pane wrapped to the pane's first column, where
it read as a new entry. A wrapped line here continues two cells right of its own indent.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text
from textual.widgets import Static

HANG = 2  # a continuation starts this many cells right of its line's own indent


def hanging(text: Text, width: int, console: Console) -> Text:
    """``text`` with each line longer than ``width`` wrapped at ``width`` and continued under
    its own indent (plus HANG); lines that fit are kept as they are."""
    if width <= HANG * 4:
        return text
    lines = []
    for line in text.split("\n", allow_blank=True):
        plain = line.plain
        if line.cell_len <= width:
            lines.append(line)
            continue
        indent = min(len(plain) - len(plain.lstrip(" ")) + HANG, width // 2)
        for i, piece in enumerate(line.wrap(console, width - indent, overflow="fold")):
            if i:
                piece = Text(" " * indent) + piece
            lines.append(piece)
    return Text("\n").join(lines)


class HangingStatic(Static):
    """A Static for a Text whose long lines hang (re-wrapped at each width)."""

    def __init__(self, content: Any = "", **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._text = content

    def update(self, content: Any = "", *, layout: bool = True) -> None:
        self._text = content
        super().update(content, layout=layout)

    def render(self) -> Any:
        width = self.content_region.width or self.size.width
        if isinstance(self._text, Text) and width:
            return hanging(self._text, width, self.app.console)
        return super().render()
