"""Django-style lookups for the demo Alyx: the ``django=`` filter and JSON-field pairs.

Alyx passes ``django=field__lookup,value[,~field,value...]`` straight to the ORM; this module
parses the same syntax and evaluates it on pandas columns, so a client sees the same rows (and the
same 500 messages for unknown fields) as on a real server.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "LOOKUPS",
    "Field",
    "FilterError",
    "BadValue",
    "split_args",
    "convert_value",
    "parse_pairs",
    "django_mask",
    "json_mask",
    "json_pairs_mask",
    "lookup_mask",
    "multi_mask",
]

LOOKUPS = {
    "exact", "iexact", "contains", "icontains", "startswith", "istartswith", "endswith",
    "iendswith", "gt", "gte", "lt", "lte", "in", "isnull", "regex", "iregex",
}
TRANSFORMS = {"date", "year"}


class FilterError(Exception):
    """A filter the server cannot evaluate: Alyx answers 500 with this text as ``detail``."""


class BadValue(Exception):
    """A filter value of the wrong type: Alyx answers 400 ``{field: [message]}``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Field:
    """A filterable column: ``values`` (or unique values expanded by ``codes``) of a kind.

    kind: ``str``, ``number``, ``datetime``, ``bool``, ``multi`` (lists of str) or ``json``.
    ``codes`` lets a 1.5M-row table be filtered by evaluating the lookup on a few unique values.
    """

    values: Callable[[], pd.Series]
    kind: str = "str"
    codes: Callable[[], np.ndarray] | None = None
    #: for a related table's column (a session's datasets): row mask -> "any row" per record
    reduce: Callable[[np.ndarray], np.ndarray] | None = None


def split_args(text: str) -> list[str]:
    """Split on commas that are not inside brackets, parentheses or quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def convert_value(text: str) -> Any:
    """Alyx's value conversion: None/true/false, numbers, and [..]/(..) as Python literals."""
    t = text.strip()
    if t == "None":
        return None
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    if t[:1] and t[:1] in "[(" and t[-1:] in ")]":
        try:
            return ast.literal_eval(t)
        except (ValueError, SyntaxError) as exc:
            raise FilterError(str(exc)) from None
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def parse_pairs(text: str) -> list[tuple[str, Any]]:
    """``'a,1,b,2'`` -> ``[('a', 1), ('b', 2)]``; an odd count is an Alyx 500."""
    args = split_args(text)
    if len(args) % 2:
        raise FilterError("list index out of range")
    return [(args[i].strip(), convert_value(args[i + 1])) for i in range(0, len(args), 2)]


def _split_lookup(path: str) -> tuple[list[str], str | None, str]:
    """'start_time__date__lt' -> (['start_time'], 'date', 'lt')."""
    parts = path.split("__")
    lookup = "exact"
    if len(parts) > 1 and parts[-1] in LOOKUPS:
        lookup = parts.pop()
    transform = None
    if len(parts) > 1 and parts[-1] in TRANSFORMS:
        transform = parts.pop()
    return parts, transform, lookup


def django_mask(text: str, fields: dict[str, Field], n: int, model_fields: list[str]) -> np.ndarray:
    """Rows matching every ``field__lookup,value`` pair of a ``django=`` filter."""
    mask = np.ones(n, dtype=bool)
    for key, value in parse_pairs(text):
        exclude = key.startswith("~")
        parts, transform, lookup = _split_lookup(key.lstrip("~"))
        m = _resolve(parts, transform, lookup, value, fields, model_fields)
        mask &= ~m if exclude else m
    return mask


def _resolve(parts: list[str], transform: str | None, lookup: str, value: Any,
             fields: dict[str, Field], model_fields: list[str]) -> np.ndarray:
    # JSON fields take the rest of the path as keys into the object.
    for i in range(len(parts), 0, -1):
        name = "__".join(parts[:i])
        if name in fields:
            field = fields[name]
            if field.kind == "json":
                return json_mask(field.values(), parts[i:], lookup, value)
            if i == len(parts):
                return _field_mask(field, transform, lookup, value)
            break
    head = parts[0]
    if head not in model_fields:
        raise FilterError(f"Cannot resolve keyword '{head}' into field. Choices are: "
                          + ", ".join(sorted(model_fields)))
    raise FilterError(f"Unsupported lookup '{'__'.join(parts)}' (demo server)")


def _field_mask(field: Field, transform: str | None, lookup: str, value: Any) -> np.ndarray:
    values = field.values()
    kind = field.kind
    if transform == "date":
        values, kind = values.dt.normalize(), "datetime"
    elif transform == "year":
        values, kind = values.dt.year, "number"
    if kind == "multi":
        m = multi_mask(values, lookup, value)
    else:
        m = lookup_mask(values, kind, lookup, value)
    m = m[field.codes()] if field.codes is not None else m
    return field.reduce(m) if field.reduce is not None else m


def multi_mask(values: pd.Series, lookup: str, value: Any) -> np.ndarray:
    """Any element of each row's list matches (Django's join semantics)."""
    lengths = values.map(len).to_numpy()
    if lookup == "isnull":
        return np.asarray((lengths == 0) == bool(value))
    flat = pd.Series([v for row in values for v in row], dtype="str")
    rows = np.repeat(np.arange(len(values)), lengths)
    out = np.zeros(len(values), dtype=bool)
    out[rows[lookup_mask(flat, "str", lookup, value)]] = True
    return out


def _coerce(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        try:
            return pd.Timestamp(value)
        except ValueError:
            raise FilterError(f"“{value}” value has an invalid date format.") from None
    if kind == "number":
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise FilterError(f"Field expected a number but got '{value}'.") from None
        return value
    if kind == "bool":
        return bool(value)
    return str(value)


def lookup_mask(values: pd.Series, kind: str, lookup: str, value: Any) -> np.ndarray:
    """One Django lookup on a column, as a boolean array."""
    if lookup == "isnull":
        return np.asarray(values.isna().to_numpy() == bool(value))
    if lookup == "in":
        items = value.split(",") if isinstance(value, str) else list(value)
        return np.asarray(values.isin([_coerce(v, kind) for v in items]).to_numpy(dtype=bool))
    if value is None and lookup in ("exact", "iexact"):
        return np.asarray(values.isna().to_numpy())
    v = _coerce(value, kind)
    if kind == "str":
        s = values.astype("str")
        text = {
            "exact": lambda: s == v,
            "iexact": lambda: s.str.lower() == v.lower(),
            "contains": lambda: s.str.contains(v, regex=False),
            "icontains": lambda: s.str.contains(v, case=False, regex=False),
            "startswith": lambda: s.str.startswith(v),
            "istartswith": lambda: s.str.lower().str.startswith(v.lower()),
            "endswith": lambda: s.str.endswith(v),
            "iendswith": lambda: s.str.lower().str.endswith(v.lower()),
            "regex": lambda: s.str.contains(v, regex=True),
            "iregex": lambda: s.str.contains(v, case=False, regex=True),
        }
        if lookup in text:
            return np.asarray(text[lookup]().fillna(False).to_numpy(dtype=bool))
    compare = {"exact": "eq", "iexact": "eq", "gt": "gt", "gte": "ge", "lt": "lt", "lte": "le"}
    if lookup not in compare:
        raise FilterError(f"Unsupported lookup '{lookup}' for this field (demo server)")
    return np.asarray(getattr(values, compare[lookup])(v).fillna(False).to_numpy(dtype=bool))


def _json_value(obj: Any, keys: list[str]) -> Any:
    for k in keys:
        if not isinstance(obj, dict) or k not in obj:
            return _MISSING
        obj = obj[k]
    return obj


_MISSING = object()


def _json_eq(got: Any, value: Any) -> bool:
    """JSON equality: true is not 1 (jsonb compares types)."""
    if isinstance(got, bool) or isinstance(value, bool):
        return isinstance(got, bool) and isinstance(value, bool) and got == value
    return bool(got == value)


def _json_match(got: Any, lookup: str, value: Any) -> bool:
    if got is _MISSING:
        return lookup == "isnull" and bool(value)
    if lookup == "isnull":
        return (got is None) == bool(value)
    if lookup in ("exact", "iexact"):
        if lookup == "iexact" and isinstance(got, str) and isinstance(value, str):
            return got.lower() == value.lower()
        return _json_eq(got, value)
    if lookup in ("contains", "icontains"):
        if isinstance(got, str):
            return str(value).lower() in got.lower() if lookup == "icontains" else \
                str(value) in got
        return isinstance(got, list) and value in got
    if lookup == "in":
        return got in value
    try:
        return bool({"gt": got > value, "gte": got >= value, "lt": got < value,
                "lte": got <= value}[lookup])
    except (TypeError, KeyError):
        return False


def json_mask(values: pd.Series, keys: list[str], lookup: str, value: Any) -> np.ndarray:
    """Rows whose JSON object at ``keys`` satisfies the lookup (null objects never match)."""
    return np.fromiter((_json_match(_json_value(obj, keys), lookup, value) for obj in values),
                       dtype=bool, count=len(values))


def json_pairs_mask(text: str, values: pd.Series) -> np.ndarray:
    """Alyx's ``extended_qc=key[__lookup],value[,...]`` filter on a JSON column."""
    mask = np.ones(len(values), dtype=bool)
    for key, value in parse_pairs(text):
        parts = key.split("__")
        lookup = parts.pop() if len(parts) > 1 and parts[-1] in LOOKUPS else "exact"
        mask &= json_mask(values, parts, lookup, value)
    return mask
