"""The one-tui engine: ONE's behaviour on ONE's files, with no user interface.

This package must never import Textual or Rich (a test checks it in a fresh interpreter).
Names are exported lazily (PEP 562) so that ``import one_tui.engine`` costs almost nothing and
pandas / pyarrow / httpx are only imported when a call needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "One": "one_tui.engine.one",
    "AlyxClient": "one_tui.engine.remote.client",
    "no_cache": "one_tui.engine.remote.client",
    "QC": "one_tui.engine.core.spec",
    "Cache": "one_tui.engine.local.cache",
    "load_cache": "one_tui.engine.local.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'one_tui.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
