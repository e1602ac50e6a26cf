"""How many pulls of one marketplace run at once. `run_cycle` (sync --once, the benchmarks) and the daemon's pull
jobs take their slots here, so both are as polite to a marketplace as the configuration says
(``daemon.pulls_per_marketplace``). One account is never pulled twice at once anyway (its lease in the store)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")

STOP_POLL = 0.1  # seconds: a stop is an Event of its own, not this gate's condition: waiters look at it this often


class PullGate:
    """At most ``limits[marketplace]`` pulls of that marketplace at once; a marketplace not named is bounded only
    by how many workers its caller runs. A slot is taken without waiting (``try_enter``, the daemon's jobs) or as the
    first of several candidates that finds room (``take``, a cycle's workers), so a worker never idles behind a
    full marketplace while an account of another one could run. Every slot taken is given back with ``leave``."""

    def __init__(self, limits: Mapping[str, int] | None = None) -> None:
        limits = dict(limits or {})
        for marketplace, limit in limits.items():
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValueError(f"per_marketplace[{marketplace!r}] must be a whole number of at least 1, "
                                 f"not {limit!r}")
        self.limits = limits
        self._busy: Counter[str] = Counter()
        self._changed = threading.Condition()

    def _has_room(self, marketplace: str) -> bool:
        limit = self.limits.get(marketplace)
        return limit is None or self._busy[marketplace] < limit

    def try_enter(self, marketplace: str) -> bool:
        """Take a slot of ``marketplace`` if one is free; False (nothing taken) when all are in use."""
        with self._changed:
            if not self._has_room(marketplace):
                return False
            self._busy[marketplace] += 1
            return True

    def leave(self, marketplace: str) -> None:
        with self._changed:
            self._busy[marketplace] -= 1
            self._changed.notify_all()

    def take(self, waiting: list[T], marketplace_of: Callable[[T], str],
             stop: threading.Event | None = None) -> T | None:
        """Remove and return the first item of ``waiting`` whose marketplace has a free slot, holding that slot;
        wait while none has. None once ``waiting`` is empty or ``stop`` is set. Workers that share ``waiting`` must
        all take from it through this gate: its lock is what guards the list."""
        with self._changed:
            while waiting and not (stop is not None and stop.is_set()):
                for i, item in enumerate(waiting):
                    if self._has_room(marketplace := marketplace_of(item)):
                        self._busy[marketplace] += 1
                        return waiting.pop(i)
                self._changed.wait(STOP_POLL)
            return None
