"""The one-tui engine: ONE's behaviour on ONE's files, with no user interface.

This package must never import Textual or Rich (a test and the layer contracts check it).
Its root is the engine's surface: ``One`` (ONE's API, for scripts) and ``EngineService`` (the
typed seam the app and the command line call) with the values and errors they hand out. The
app imports from here (and from ``core``), never from the engine's inner modules.

Names are exported lazily (PEP 562) so that ``import one_tui.engine`` costs almost nothing and
pandas / pyarrow / httpx are only imported when a call needs them.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

# A library's loggers reach only the handlers its user sets up: without this, Python's
# last-resort handler printed every warning a second time on a command's stderr, beside the
# notice the command prints itself.
logging.getLogger("one_tui").addHandler(logging.NullHandler())

_CORE = "one_tui.engine.core"
_EXPORTS = {
    # ONE's API and the seam
    "One": "one_tui.engine.one",
    "EngineService": "one_tui.engine.service",
    "suggestions_of": "one_tui.engine.service",
    # vocabulary
    "Mode": f"{_CORE}.types", "MODES": f"{_CORE}.types", "Source": f"{_CORE}.types",
    "OutcomeKind": f"{_CORE}.types", "FallbackReason": f"{_CORE}.types",
    "Answer": f"{_CORE}.results", "Outcome": f"{_CORE}.results", "Fallback": f"{_CORE}.results",
    "Phase": f"{_CORE}.results", "Progress": f"{_CORE}.results",
    "Freshness": f"{_CORE}.freshness",
    "EngineState": f"{_CORE}.values", "TableInfo": f"{_CORE}.values",
    "RestCacheInfo": f"{_CORE}.values", "SearchRequest": f"{_CORE}.values",
    "SessionDetails": f"{_CORE}.values", "DatasetRow": f"{_CORE}.values",
    "Insertion": f"{_CORE}.values", "DiskTotals": f"{_CORE}.values",
    "RemoteError": f"{_CORE}.values", "RemoteErrorKind": f"{_CORE}.values",
    "Suggestions": f"{_CORE}.values",
    "SubjectHistory": f"{_CORE}.history", "SubjectSession": f"{_CORE}.history",
    "Stage": f"{_CORE}.history", "Lacking": f"{_CORE}.history",
    "SessionCounts": f"{_CORE}.history", "CountRow": f"{_CORE}.history",
    "QC": f"{_CORE}.spec", "shown": f"{_CORE}.spec", "one_line": f"{_CORE}.spec",
    "atomic_write": f"{_CORE}.atomic",
    # the download manager's values (engine/fetch/values.py) and its errors
    "DiskState": f"{_CORE}.types",
    "FetchKind": "one_tui.engine.fetch.values", "FailCause": "one_tui.engine.fetch.values",
    "DiskAction": "one_tui.engine.fetch.values",
    "FileTask": "one_tui.engine.fetch.values", "FileOutcome": "one_tui.engine.fetch.values",
    "ActiveFile": "one_tui.engine.fetch.values",
    "FetchProgress": "one_tui.engine.fetch.values",
    "OnFetchProgress": "one_tui.engine.fetch.values",
    "DownloadPlan": "one_tui.engine.fetch.values",
    "DownloadReport": "one_tui.engine.fetch.values",
    "DiskFinding": "one_tui.engine.fetch.values", "DiskReport": "one_tui.engine.fetch.values",
    "Selection": "one_tui.engine.fetch.values",
    "FetchError": "one_tui.engine.fetch.plan", "NothingMatches": "one_tui.engine.fetch.plan",
    # errors a caller catches
    "CacheDirError": f"{_CORE}.errors", "AlyxError": f"{_CORE}.errors",
    "AlyxConnectionError": f"{_CORE}.errors", "AuthenticationError": f"{_CORE}.errors",
    "LoginRequired": f"{_CORE}.errors", "OfflineError": f"{_CORE}.errors",
    "ReadOnlyError": f"{_CORE}.errors",
    # for scripts that use the engine as ONE
    "AlyxClient": "one_tui.engine.remote.client",
    "no_cache": "one_tui.engine.remote.client",
    "Cache": "one_tui.engine.local.cache",
    "load_cache": "one_tui.engine.local.store",
    # the raw django term (the filters' field checks it as Alyx will read it)
    "django_clause": "one_tui.engine.remote.filters",
    # ~/.one: which database, folder, user and token (the app's and the CLI's start)
    "params": "one_tui.engine.params",
    "resolve_place": "one_tui.engine.params", "Place": "one_tui.engine.params",
    # table sets and databases (the pickers); ONE's public database before any set-up
    "FULL": f"{_CORE}.sets", "TagInfo": f"{_CORE}.sets", "DatabaseInfo": f"{_CORE}.sets",
    "FreezeReport": f"{_CORE}.sets",
    "PUBLIC_URL": "one_tui.engine.databases", "PUBLIC_USER": "one_tui.engine.databases",
    "PUBLIC_PASSWORD": "one_tui.engine.databases",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'one_tui.engine' has no attribute {name!r}")
    if name == module.rsplit(".", 1)[-1]:  # a module itself (params)
        return importlib.import_module(module)
    return getattr(importlib.import_module(module), name)
