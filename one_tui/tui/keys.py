"""The key table: every binding's id (users remap them in their keymap), keys, action, footer
text and palette title ('category: action'), in one place. The app's bindings, the help screen's
key list and the command palette are all made from it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.keys import format_key

# (binding id, keys, action, description, shown in footer, palette title)
KEYS: tuple[tuple[str, str, str, str, bool, str], ...] = (
    ("quit", "q", "app.quit", "Quit", True, "app: quit"),
    ("help", "f1,question_mark", "app.help", "Help", True, "app: help and keys"),
    ("focus_filters", "slash", "focus_filters", "Filters", True, "search: focus the filters"),
    ("search", "f9", "search", "Search", True, "search: run"),
    ("search_remote", "f7,ctrl+r", "search_remote", "On Alyx", True,
     "search: run once on Alyx (query_type='remote')"),
    ("cancel", "escape", "cancel", "Cancel", False, "search: cancel"),
    ("clear_filters", "ctrl+l", "clear_filters", "Clear filters", False, "search: clear filters"),
    ("cycle_mode", "m", "app.cycle_mode", "Mode", True, "mode: cycle"),
    ("mode_local", "f2", "app.set_mode('local')", "local", False, "mode: local"),
    ("mode_remote", "f3", "app.set_mode('remote')", "remote", False, "mode: remote"),
    ("mode_auto", "f4", "app.set_mode('auto')", "auto", False, "mode: auto"),
    ("mode_refresh", "f5", "app.set_mode('refresh')", "refresh", False, "mode: refresh"),
    ("refresh", "r", "app.refresh", "Refresh", True, "cache: refresh tables as auto would"),
    ("force_refresh", "R,f6", "app.force_refresh", "Force refresh", False,
     "cache: force a refresh from Alyx"),
    ("toggle_bypass", "b,f8", "app.toggle_bypass", "Bypass REST", True,
     "cache: toggle REST cache bypass"),
    ("clear_rest_cache", "C", "app.clear_rest_cache", "Clear REST cache", False,
     "cache: clear the REST cache"),
    ("pick_tag", "t", "app.pick_tag", "Tag", False,
     "tables: use a release tag's tables or the full ones"),
    ("pick_database", "B", "app.pick_database", "Database", False,
     "database: switch to another database of ~/.one"),
    ("freeze", "F", "app.freeze", "Freeze", False,
     "results: freeze them (the marked, else all) into a ONE folder for an offline node"),
    ("details", "d", "details", "Details", False, "session: open details"),
    ("copy_eid", "y", "copy_eid", "Copy eid", True, "session: copy eid"),
    ("copy_load", "o,Y", "copy_load", "Copy ONE line", False,
     "session: copy a ONE line (load_dataset, load_object, ONE(...))"),
    ("subject_view", "S", "subject_view", "Subject", False,
     "subject: training history of the session's subject (plot)"),
    ("goto", "g", "goto", "Go to", False, "session: open by eid or folder (pasted)"),
    ("copy_search", "L", "copy_search", "Copy search", False,
     "search: copy as a ONE call (one.search(...))"),
    ("copy_eids", "E", "copy_eids", "Copy eids", False,
     "results: copy the eids (the marked, else all) as a Python list"),
    ("toggle_eid", "i", "toggle_eid", "eid column", False, "results: show/hide the eid column"),
    ("sort", "s", "sort", "Sort", False, "results: sort by a column"),
    ("export", "e", "export", "Export", True, "results: export to CSV or Parquet"),
    ("counts", "c", "counts", "Counts", False,
     "results: counts per lab, subject, project, protocol and week"),
    ("download", "D", "download", "Download", False,
     "data: download the marked datasets (Details), or the dataset filter's of the marked "
     "sessions (else all results)"),
    ("disk_doctor", "K", "disk_doctor", "Disk doctor", False,
     "data: check the session's files on this disk (missing, damaged, stranded, partial)"),
    ("verify_all", "V", "verify_all", "Verify all", False,
     "data: re-hash every file of the session on this disk"),
    ("show_error", "x", "app.show_error", "Last error", False, "app: show the last error in full"),
    ("pane_filters", "1", "show_pane('filters')", "Filters pane", False, "pane: filters"),
    ("pane_results", "2", "show_pane('results')", "Sessions pane", False, "pane: sessions"),
    ("pane_details", "3", "show_pane('details')", "Details pane", False, "pane: details"),
    ("pane_cache", "4", "show_pane('cache')", "Cache pane", False, "pane: cache"),
)


# The sessions pane's own keys (they act when the sessions table has the focus); the palette
# runs them on the pane. Same shape as KEYS.
RESULTS_KEYS: tuple[tuple[str, str, str, str, bool, str], ...] = (
    ("session_mark", "space", "mark", "Mark", False,
     "results: mark / unmark the session (D, E and F then take the marked ones)"),
    ("session_mark_all", "a", "mark_all", "Mark all", False,
     "results: mark every session of the results (again: none)"),
)


# The Details pane's own keys (they act when Details has the focus); the palette runs them on
# the pane. Same shape as KEYS.
DETAILS_KEYS: tuple[tuple[str, str, str, str, bool, str], ...] = (
    ("mark", "space", "mark", "Mark", False,
     "details: mark / unmark the dataset (a collection: all of it)"),
    ("mark_all", "a", "mark_all", "Mark all", False,
     "details: mark all datasets of the session (again: none)"),
    ("fold", "enter", "fold", "Fold", False, "details: fold / unfold the collection"),
    ("unfold", "right", "fold('unfold')", "Unfold", False, "details: unfold the collection"),
    ("fold_close", "left", "fold('fold')", "Fold", False, "details: fold the collection"),
)

# Keys handled outside KEYS (priority bindings, widgets' own), listed in the help as well.
EXTRA_KEYS: tuple[tuple[str, str, str], ...] = (
    ("ctrl+q", "quit (also inside a field)", "quit_now"),
    ("enter", "search (in a filter) · open the session's details (in the table)", "-"),
    ("tab,shift+tab", "next / previous filter (cycles within the filters)", "focus_next"),
    ("ctrl+n", "next pane, also from inside a field", "next_pane"),
    ("escape", "cancel a search, a download or a refresh · back to the sessions", "cancel"),
    ("up,down", "Details: the cursor on the datasets (page keys, home, end too)",
     "details_down"),
)


# Binding ids outside the table that a keymap may remap too (the screens' and modals' own).
OTHER_IDS = frozenset({"focus_next", "focus_previous", "next_pane", "quit_now", "filters_next",
                       "filters_previous", "login_cancel", "modal_close", "confirm_yes",
                       "confirm_no", "error_copy", "setup_demo", "setup_quit",
                       "details_up", "details_down", "details_page_up", "details_page_down",
                       "details_home", "details_end"})


def unknown_ids(keymap: Mapping[str, str]) -> list[str]:
    """The ids of a [keymap] that name no binding (Textual ignores them without a word, so a
    typo like ``serach`` left a user wondering why the key did not change)."""
    known = ({row[0] for row in (*KEYS, *RESULTS_KEYS, *DETAILS_KEYS)}
             | {bid for _k, _d, bid in EXTRA_KEYS} | OTHER_IDS)
    return sorted(k for k in keymap if k not in known)


def display_keys(keys: str) -> str:
    """'f1,question_mark' -> 'f1, ?': the characters a user types, as the README names them."""
    shown = []
    for key in keys.split(","):
        key = key.strip()
        char = format_key(key) if len(key) > 1 and "+" not in key else key
        shown.append(char if len(char) == 1 and char.isascii() and char.isprintable()
                     and not char.isspace() else key)
    return ", ".join(shown)


# Pane keys handled when the app reads them (priority), so a burst like "/abc" typed in the
# table puts "abc" in the filter instead of running b (bypass) and c; inside a field they are
# disabled (check_action) and typed into it.
PRIORITY_OUTSIDE_FIELDS = frozenset({"focus_filters", "pane_filters", "pane_results",
                                     "pane_details", "pane_cache"})


def bindings() -> list[BindingType]:
    """The main screen's bindings; the app's own actions are named ``app.<action>``."""
    out: list[BindingType] = []
    for bid, keys, action, desc, show, _ in KEYS:
        out.append(Binding(keys, action, desc, show=show, id=bid,
                           priority=bid in PRIORITY_OUTSIDE_FIELDS))
    # Priority: handled when the key reaches the app, before the next key is forwarded. As plain
    # bindings, a burst "150<tab>5" over SSH had its 5 forwarded to the old field (1505) before
    # the tab, bubbling up from that field, moved the focus.
    out.append(Binding("tab", "focus_step(1)", "Next field", show=False, priority=True,
                       id="focus_next"))
    out.append(Binding("shift+tab", "focus_step(-1)", "Previous field", show=False,
                       priority=True, id="focus_previous"))
    # Pane keys that also work inside a filter field (1-4 and / are typed into it there).
    out.append(Binding("ctrl+n", "next_pane", "Next pane", show=False, priority=True,
                       id="next_pane"))
    return out


def results_bindings() -> list[BindingType]:
    """The sessions pane's bindings (its table has the focus; the keys reach the pane)."""
    return [Binding(keys, action, desc, show=False, id=bid)
            for bid, keys, action, desc, _show, _t in RESULTS_KEYS]


def details_bindings() -> list[BindingType]:
    """The Details pane's bindings: its table's keys, and the cursor keys (ids remappable)."""
    out: list[BindingType] = [Binding(keys, action, desc, show=False, id=bid)
                              for bid, keys, action, desc, _show, _t in DETAILS_KEYS]
    for bid, key, action in (("details_up", "up", "cursor(-1)"),
                             ("details_down", "down", "cursor(1)"),
                             ("details_page_up", "pageup", "cursor_page(-1)"),
                             ("details_page_down", "pagedown", "cursor_page(1)"),
                             ("details_home", "home", "cursor_end(False)"),
                             ("details_end", "end", "cursor_end(True)")):
        out.append(Binding(key, action, show=False, id=bid))
    return out


def key_rows(keymap: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(keys, description, id) for each binding, after the user's keymap (the one the app
    gave ``App.set_keymap``: Textual has no public getter, and the keymap is ours)."""
    rows = [(display_keys(keymap.get(bid, keys)), title.split(": ", 1)[-1], bid)
            for bid, keys, _a, _d, _s, title in (*KEYS, *RESULTS_KEYS, *DETAILS_KEYS)]
    rows += [(display_keys(keymap.get(bid, keys)), desc, bid) for keys, desc, bid in EXTRA_KEYS]
    return rows


def palette_commands(main: Any, results: Any, details: Any) -> Iterator[SystemCommand]:
    """Every action of the key table as a palette entry, named 'category: action', run on
    the main screen (``main``), and the panes' own keys run on the pane (``results``,
    ``details``)."""
    for _bid, keys, action, desc, _show, title in KEYS:
        yield SystemCommand(title, f"{desc} ({display_keys(keys)})",
                            partial(main.run_action, action))
    for _bid, keys, action, desc, _show, title in RESULTS_KEYS:
        yield SystemCommand(title, f"{desc} ({display_keys(keys)}, in the sessions)",
                            partial(results.run_action, action))
    for _bid, keys, action, desc, _show, title in DETAILS_KEYS:
        yield SystemCommand(title, f"{desc} ({display_keys(keys)}, in Details)",
                            partial(details.run_action, action))
