"""Per-thread attributes for "what did my last call do" flags (source, stale, cancelled).

The app runs two remote calls at once (a search while a session's details load). With plain
attributes the second call to finish overwrites the first's flags before its caller reads them,
so a search could report "REST cache" for an answer that came from Alyx. Each thread reads what
its own last call set; a thread that never made a call reads the value set last by any thread.
"""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

__all__ = ["PerThread"]

T = TypeVar("T")


class PerThread(Generic[T]):
    """A data descriptor holding one value per (instance, thread).

    ``obj.attr = v`` sets the calling thread's value (and the instance-wide latest); reading gives
    the calling thread's value, else that latest value, else ``default``.
    """

    def __init__(self, default: T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _local(self, obj: Any) -> threading.local:
        # dict.setdefault is atomic under the GIL: two threads get the same local object
        return obj.__dict__.setdefault(f"_{self.name}_per_thread", threading.local())

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        local = self._local(obj)
        if hasattr(local, "value"):
            return local.value
        return obj.__dict__.get(f"_{self.name}_latest", self.default)

    def __set__(self, obj: Any, value: T) -> None:
        self._local(obj).value = value
        obj.__dict__[f"_{self.name}_latest"] = value
