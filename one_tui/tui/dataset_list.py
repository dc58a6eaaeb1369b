"""Details' dataset list as a value: collections (folded or not), a cursor, marks.

The Details pane holds one :class:`DatasetList` and replaces it on each key (pure updates, as
``tui/state.py`` does for the app): ``move``, ``fold`` / ``unfold`` / ``toggle_fold`` (a
collection), ``toggle_mark`` (a dataset, or every dataset of the collection under the cursor),
``mark_all`` (the session). Marks are dataset ids, so a live redraw of the same session (a
download finishing a file) keeps them; another session starts with none. Tested without an app
(tests/tui/test_dataset_list.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from one_tui.engine.core.values import DatasetRow

__all__ = ["Group", "Item", "DatasetList"]


@dataclass(frozen=True)
class Group:
    """A collection of the session in one revision: its datasets, sorted by name."""

    collection: str
    revision: str
    rows: tuple[DatasetRow, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.collection, self.revision)

    @property
    def label(self) -> str:
        label = self.collection or "(session root)"
        return f"{label}  #{self.revision}#" if self.revision else label

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rows)

    @property
    def default(self) -> bool:
        """The default revision of its collection (what ONE loads without ``revision=``)."""
        return all(r.default_revision for r in self.rows)


@dataclass(frozen=True)
class Item:
    """One line under the cursor: a collection header, or a dataset of an unfolded one."""

    group: Group
    row: DatasetRow | None = None   # None: the collection's header


def groups_of(rows: Iterable[DatasetRow]) -> tuple[Group, ...]:
    """The datasets by (collection, revision), in the order Details lists them."""
    by: dict[tuple[str, str], list[DatasetRow]] = defaultdict(list)
    for d in rows:
        by[(d.collection or "", d.revision or "")].append(d)
    return tuple(Group(c, r, tuple(sorted(ds, key=lambda d: d.name)))
                 for (c, r), ds in sorted(by.items()))


@dataclass(frozen=True)
class DatasetList:
    """The session's datasets as Details draws them, with what the user did to them."""

    eid: str = ""
    groups: tuple[Group, ...] = ()
    folded: frozenset[tuple[str, str]] = frozenset()
    marked: frozenset[str] = frozenset()
    cursor: int = 0
    _items: tuple[Item, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def of(cls, eid: str, rows: Iterable[DatasetRow], previous: DatasetList | None = None
           ) -> DatasetList:
        """A list for the session's rows; the same session keeps its folds, marks and cursor
        (a live redraw), another starts folded open with nothing marked."""
        groups = groups_of(rows)
        if previous is None or previous.eid != eid:
            return _with_items(cls(eid=eid, groups=groups))
        ids = {r.id for g in groups for r in g.rows}
        keys = {g.key for g in groups}
        return _with_items(replace(previous, groups=groups, marked=previous.marked & ids,
                                   folded=previous.folded & keys))

    # -------------------------------------------------------------- what is shown

    @property
    def items(self) -> tuple[Item, ...]:
        """The visible lines: each header, and the datasets of the unfolded collections."""
        return self._items

    @property
    def current(self) -> Item | None:
        items = self._items
        return items[self.cursor] if items else None

    @property
    def rows(self) -> tuple[DatasetRow, ...]:
        return tuple(r for g in self.groups for r in g.rows)

    @property
    def marked_rows(self) -> tuple[DatasetRow, ...]:
        return tuple(r for r in self.rows if r.id in self.marked)

    def n_marked(self, group: Group) -> int:
        return sum(r.id in self.marked for r in group.rows)

    # -------------------------------------------------------------- updates (pure)

    def move(self, delta: int) -> DatasetList:
        """Up / down (page keys: several), clamped to the list."""
        if not self._items:
            return self
        cursor = max(0, min(len(self._items) - 1, self.cursor + delta))
        return self if cursor == self.cursor else replace(self, cursor=cursor)

    def to_end(self, end: bool) -> DatasetList:
        return self.move(len(self._items) if end else -len(self._items))

    def fold(self, folded: bool | None = None) -> DatasetList:
        """Fold (True), unfold (False) or toggle (None) the collection under the cursor; on a
        dataset, folding folds its collection and puts the cursor on its header."""
        item = self.current
        if item is None:
            return self
        key = item.group.key
        want = (key not in self.folded) if folded is None else folded
        if item.row is not None and not want:
            return self  # unfolding a dataset: nothing to do
        folded_set = self.folded | {key} if want else self.folded - {key}
        out = _with_items(replace(self, folded=folded_set))
        header = next(i for i, it in enumerate(out.items) if it.group.key == key
                      and it.row is None)
        return replace(out, cursor=header)

    def toggle_mark(self) -> DatasetList:
        """space: mark or unmark the dataset under the cursor; on a collection, all of its
        datasets (unmarked all when all were marked). The cursor moves down a line."""
        item = self.current
        if item is None:
            return self
        ids = {item.row.id} if item.row is not None else set(item.group.ids)
        marked = self.marked - ids if ids <= self.marked else self.marked | ids
        return replace(self, marked=frozenset(marked)).move(1)

    def mark_all(self) -> DatasetList:
        """a: every dataset of the session; again: none."""
        every = frozenset(r.id for r in self.rows)
        return replace(self, marked=frozenset() if self.marked >= every and every else every)


def _with_items(lst: DatasetList) -> DatasetList:
    items: list[Item] = []
    for g in lst.groups:
        items.append(Item(g))
        if g.key not in lst.folded:
            items.extend(Item(g, r) for r in g.rows)
    cursor = max(0, min(lst.cursor, len(items) - 1))
    return replace(lst, _items=tuple(items), cursor=cursor)
