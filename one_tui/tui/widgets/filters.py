"""The filters pane: ONE search terms, validated on the field before anything is sent.

Local terms follow ONE's local search (case-sensitive regex / substring); the remote-only ones
are Alyx session filters and force that search to go to Alyx. The pane owns its fields: enter in
one posts :class:`FiltersPane.Submitted` with the terms, and the app's state (bound: the mode
for the match rule, the suggestions) reaches it by ``data_bind``, also when it is mounted late.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import var
from textual.suggester import SuggestFromList
from textual.validation import ValidationResult, Validator
from textual.widgets import Checkbox, Input, Label, Static

from one_tui.engine.core.spec import QC
from one_tui.tui.inert import inert
from one_tui.tui.state import AppState
from one_tui.tui.widgets.inputs import QuietInput

LOCAL_RULE = "match (local tables): case-sensitive regex, substring"
REMOTE_RULE = "match (Alyx): subject, lab exact, any case; project, protocol contain"
#: an Alyx-only filter is set: this search goes to Alyx whatever the mode, so Alyx's rule holds
#: the longest filter: a longer one is no search a person means (a paste gone wrong); each key
#: of a 6,000-character paste was a validation and a suggestion (30 s of a frozen app)
MAX_FILTER = 500
CLIPPED = f"at most {MAX_FILTER} characters: the rest was not taken"
ALYX_ONLY_RULE = ("match (Alyx: an Alyx-only filter is set): subject, lab exact, any case; "
                  "project, protocol contain")


class Check(Validator):
    """A validator from a function that returns an error line, or None when the value is fine."""

    def __init__(self, check: Callable[[str], str | None]) -> None:
        super().__init__()
        self.check = check

    def validate(self, value: str) -> ValidationResult:
        value = value.strip()
        problem = self.check(value) if value else None
        return self.failure(problem, value) if problem else self.success()


def check_date(value: str) -> str | None:
    """Dates are YYYY-MM-DD and must exist (2024-13-01 does not)."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        dt.date.fromisoformat(value)
    except ValueError:
        return "not a date (YYYY-MM-DD)"
    return None


def check_number(value: str) -> str | None:
    """The session number is a non-negative integer ('002' is fine, as in ONE); ASCII digits only:
    '²' passes isdigit() but int() refuses it, which crashed the search."""
    return None if value.isascii() and value.isdigit() else "not a session number"


def check_qc(value: str) -> str | None:
    """QC is a name (PASS, WARNING, ...) or its value (10, 30, ...)."""
    try:
        QC.validate(value)
    except ValueError:
        return "QC is NOT_SET, PASS, WARNING, FAIL, CRITICAL (or 0-50)"
    return None


def check_percent(value: str) -> str | None:
    """Performance is a percentage of correct trials."""
    try:
        number = float(value)
    except ValueError:
        return "not a number (0 to 100)"
    return None if 0 <= number <= 100 else "a percentage: 0 to 100"


def check_django(value: str) -> str | None:
    """Django filters come as field__lookup,value pairs."""
    parts = value.split(",")
    if len(parts) % 2 or not all(p.strip() for p in parts[::2]):
        return "django: field__lookup,value pairs"
    return None


def regex_problem(value: str) -> str | None:
    """Local text filters are regular expressions; say why one does not compile."""
    try:
        re.compile(value)
    except re.error as exc:
        return f"invalid regex: {exc}"
    return None


@dataclass(frozen=True)
class Field:
    """One filter: its widget id, label, the ONE term it feeds and how it is checked."""

    key: str
    label: str
    placeholder: str
    remote_only: bool = False
    check: Callable[[str], str | None] | None = None
    regex: bool = False


FIELDS: tuple[Field, ...] = (
    Field("lab", "lab", "e.g. cortexlab", regex=True),
    Field("subject", "subject", "e.g. KS005 or ^ZM_", regex=True),
    Field("date_from", "date from", "YYYY-MM-DD", check=check_date),
    Field("date_to", "date to", "YYYY-MM-DD", check=check_date),
    Field("number", "number", "e.g. 1", check=check_number),
    Field("project", "project", "e.g. brainwide", regex=True),
    Field("task_protocol", "protocol", "e.g. ephysChoiceWorld", regex=True),
    Field("datasets", "datasets", "file names, comma-separated", regex=True),
    Field("dataset_qc", "dataset QC ≤", "e.g. WARNING", check=check_qc),
    Field("session_qc", "session QC", "e.g. PASS", remote_only=True, check=check_qc),
    Field("perf_gte", "perf ≥ %", "0-100", remote_only=True, check=check_percent),
    Field("perf_lte", "perf ≤ %", "0-100", remote_only=True, check=check_percent),
    Field("atlas_acronym", "brain region", "atlas acronym, e.g. VISp", remote_only=True),
    Field("narrative", "narrative has", "text", remote_only=True),
    Field("django", "django", "field__lookup,value", remote_only=True, check=check_django),
)
FIELD_BY_KEY = {f.key: f for f in FIELDS}


class FilterError(ValueError):
    """Some fields are invalid; ``fields`` names them (their messages are shown on the fields)."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__("Fix the flagged filters: " + ", ".join(fields))
        self.fields = fields


class FiltersPane(VerticalScroll):
    """All filters in one compact column (one row per field, a message row when invalid)."""

    BORDER_TITLE = "Filters"
    BINDINGS = [
        Binding("down", "app.focus_next", "Next filter", show=False, id="filters_next"),
        Binding("up", "app.focus_previous", "Previous filter", show=False, id="filters_previous"),
    ]

    @dataclass
    class Submitted(Message):
        """enter in a filter: search with these terms (``alyx_only``: a term only Alyx
        answers is set, so the search goes there)."""

        terms: dict[str, Any]
        alyx_only: bool

    state: var[AppState] = var(AppState, init=False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.remote = False  # which match rule the regex check follows
        self._remote_mode = False  # the mode is remote (the app's state)
        self._rule = LOCAL_RULE
        self._suggestions: Mapping[str, tuple[str, ...]] = {}

    def compose(self) -> ComposeResult:
        # One row per field; the message row under a field is mounted only when it is needed.
        yield Static(LOCAL_RULE, id="match-rule")
        yield Label("local and Alyx", classes="section")
        for spec in FIELDS:
            if spec.key == "session_qc":
                yield Label("Alyx only (search goes remote)", classes="section remote-only")
            with Horizontal(classes="field", id=f"row-{spec.key}"):
                yield Label(spec.label, classes="field-label")
                yield QuietInput(
                    placeholder=spec.placeholder,
                    id=f"f-{spec.key}",
                    compact=True,
                    max_length=MAX_FILTER,
                    validators=[Check(self._checker(spec))],
                    classes="remote-only" if spec.remote_only else "",
                )
            if spec.key == "atlas_acronym":
                yield Checkbox("histology done", id="f-histology", compact=True)
        yield Static("enter: search · f7: once on Alyx · ctrl+l: clear", classes="hint")

    def on_mount(self) -> None:
        self.border_title = self.BORDER_TITLE

    def watch_state(self, state: AppState) -> None:
        """The mode's match rule and the tables' suggestions, when they change."""
        self._remote_mode = state.remote_mode
        self._update_rule()
        if state.suggestions is not self._suggestions:
            self._suggestions = state.suggestions
            self.set_suggestions(state.suggestions)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """enter in a field: the terms, or the fields flagged and one toast saying which."""
        if not (event.input.id or "").startswith("f-"):
            return
        event.stop()
        try:
            terms, alyx_only = self.collect()
        except FilterError as exc:
            self.notify(str(exc), severity="error")
            return
        self.post_message(self.Submitted(terms, alyx_only))

    def _checker(self, spec: Field) -> Callable[[str], str | None]:
        def check(value: str) -> str | None:
            if spec.check:
                return spec.check(value)
            if spec.regex and not self.remote:
                parts = value.split(",") if spec.key == "datasets" else [value]
                return next((p for p in map(regex_problem, parts) if p), None)
            return None

        return check

    def on_input_changed(self, event: Input.Changed) -> None:
        """Flag (or clear) a field as the user types; an Alyx-only field changes the rule."""
        if event.input.id and event.input.id.startswith("f-"):
            key = event.input.id[2:]
            if key in FIELD_BY_KEY and FIELD_BY_KEY[key].remote_only:
                self._update_rule()
            self._show(key, event.validation_result)
            if len(event.value) >= MAX_FILTER and not self.query(f"#e-{key}.-shown"):
                self._show_text(key, CLIPPED)  # a field at its ceiling says so

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._update_rule()

    def alyx_only_set(self) -> bool:
        """Whether a filter only Alyx answers is set (the search then goes to Alyx)."""
        boxes = self.query("#f-histology")
        if not boxes:  # not composed yet
            return False
        return (any(self.value(f.key) for f in FIELDS if f.remote_only)
                or boxes.first(Checkbox).value)

    def _update_rule(self) -> None:
        """The rule shown is the one the next search applies: Alyx's in remote mode or when
        an Alyx-only filter sends the search there, the tables' otherwise."""
        alyx_only = self.alyx_only_set()
        remote = self._remote_mode or alyx_only
        rule = ALYX_ONLY_RULE if alyx_only and not self._remote_mode else (
            REMOTE_RULE if remote else LOCAL_RULE)
        if (remote != self.remote or rule != self._rule) and self.query("#match-rule"):
            self.set_remote(remote, rule)

    def _show(self, key: str, result: ValidationResult | None) -> None:
        problem = "" if result is None or result.is_valid else result.failure_descriptions[0]
        self._show_text(key, problem)

    def _show_text(self, key: str, text: str) -> None:
        """The one-line message under a field (mounted the first time it is needed)."""
        found = self.query(f"#e-{key}")
        if not found:
            if not text:
                return
            message = Static("", id=f"e-{key}", classes="field-error", markup=False)
            self.mount(message, after=self.query_one(f"#row-{key}"))
        else:
            message = found.first(Static)
        message.update(text)
        message.set_class(bool(text), "-shown")

    def set_remote(self, remote: bool, rule: str | None = None) -> None:
        """Say which match rule is in force and re-check regex fields under it."""
        self.remote = remote
        self._rule = rule or (REMOTE_RULE if remote else LOCAL_RULE)
        self.query_one("#match-rule", Static).update(self._rule)
        for spec in FIELDS:
            if spec.regex:
                inp = self.query_one(f"#f-{spec.key}", Input)
                self._show(spec.key, inp.validate(inp.value))

    def set_suggestions(self, values: Mapping[str, tuple[str, ...]]) -> None:
        """Feed the lab, subject and project inputs with values from the tables."""
        for key, options in values.items():
            if key in FIELD_BY_KEY and options:
                inp = self.query_one(f"#f-{key}", Input)
                # drawn as the field's ghost text: table values made inert (spec.inert)
                inp.suggester = SuggestFromList([inert(o) for o in options],
                                                case_sensitive=False)

    def value(self, key: str) -> str:
        return self.query_one(f"#f-{key}", Input).value.strip()

    def set_value(self, key: str, value: str) -> None:
        self.query_one(f"#f-{key}", Input).value = value

    def clear(self) -> None:
        for spec in FIELDS:
            self.set_value(spec.key, "")
        self.query_one("#f-histology", Checkbox).value = False

    def accept_shown(self) -> None:
        """The search takes what the field shows: a completion shown dim after the cursor is
        accepted first (as → does), so ``cortex`` shown as ``cortexlab`` searches cortexlab.
        A space typed after the text shows no completion: the text alone is searched."""
        focused = self.screen.focused if self.is_mounted else None
        if isinstance(focused, Input) and self in focused.ancestors and focused.cursor_at_end:
            focused.action_cursor_right()  # accepts the completion; at the end, nothing else

    def collect(self) -> tuple[dict[str, Any], bool]:
        """The ONE search terms and whether a remote-only filter is set; FilterError if invalid."""
        self.accept_shown()
        invalid = []
        for spec in FIELDS:
            inp = self.query_one(f"#f-{spec.key}", Input)
            result = inp.validate(inp.value)
            self._show(spec.key, result)
            if result is not None and not result.is_valid:
                invalid.append(spec.label)
        start, end = self.value("date_from"), self.value("date_to")
        if not invalid and start and end and start > end:
            self._show_text("date_to", "date to is before date from")
            invalid.append("date to")
        if invalid:
            raise FilterError(invalid)
        return self._terms()

    def _terms(self) -> tuple[dict[str, Any], bool]:
        v = self.value
        terms: dict[str, Any] = {}
        for key, term in (("lab", "laboratory"), ("subject", "subject"),
                          ("project", "projects"), ("task_protocol", "task_protocol")):
            if v(key):
                terms[term] = v(key)
        if v("date_from") or v("date_to"):
            terms["date_range"] = [v("date_from") or None, v("date_to") or None]
        if v("number"):
            terms["number"] = int(v("number"))
        if v("datasets"):
            terms["datasets"] = [p.strip() for p in v("datasets").split(",") if p.strip()]
        if v("dataset_qc"):
            terms["dataset_qc_lte"] = QC.validate(v("dataset_qc")).name
        remote = self._remote_terms()
        terms.update(remote)
        return terms, bool(remote)

    def _remote_terms(self) -> dict[str, Any]:
        v = self.value
        terms: dict[str, Any] = {}
        if v("session_qc"):
            terms["qc"] = int(QC.validate(v("session_qc")))
        if v("perf_gte"):
            terms["performance_gte"] = float(v("perf_gte"))
        if v("perf_lte"):
            terms["performance_lte"] = float(v("perf_lte"))
        if v("atlas_acronym"):
            terms["atlas_acronym"] = v("atlas_acronym")
        if self.query_one("#f-histology", Checkbox).value:
            terms["histology"] = True
        django = []
        if v("narrative"):
            # escaped: a comma sent raw splits Alyx's django filter (HTTP 500); imported here,
            # as the remote package brings pandas, which the first frame must not load (the
            # engine's root does not export this rule yet: the one import behind the surface)
            from one_tui.engine import django_clause
            django.append(django_clause("narrative__icontains", v("narrative")))
        if v("django"):
            django.append(v("django"))
        if django:
            terms["django"] = ",".join(django)
        return terms
