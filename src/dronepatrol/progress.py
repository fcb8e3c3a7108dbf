"""Progress bars: one per vehicle, on the terminal (tqdm), updated from flight telemetry."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any


class VehicleBars:
    """One tqdm bar per vehicle showing mission items done, mode, altitude and battery.

    Use as a context manager; :meth:`update` is thread-safe and takes a
    :class:`dronepatrol.link.Progress` snapshot.
    """

    def __init__(self, names: Sequence[str], totals: Sequence[int], *,
                 disable: bool | None = None) -> None:
        from tqdm import tqdm

        if disable is None:
            disable = not sys.stderr.isatty()
        self._lock = threading.Lock()
        self._bars = [tqdm(total=max(int(t), 1), desc=n, position=i, leave=True, unit="item",
                           disable=disable, dynamic_ncols=True)
                      for i, (n, t) in enumerate(zip(names, totals, strict=True))]
        self._done = [0] * len(self._bars)
        self._last_item = [0] * len(self._bars)

    def update(self, index: int, snap: Any) -> None:
        """Advance vehicle ``index``'s bar to the snapshot's mission item."""
        with self._lock:
            bar = self._bars[index]
            item = int(snap.current_item or 0)
            if item < self._last_item[index]:  # a new sortie started: keep counting up
                self._done[index] += self._last_item[index]
            self._last_item[index] = item
            n = min(self._done[index] + item, bar.total)
            bar.n = n
            batt = "?" if snap.battery_pct is None else f"{snap.battery_pct:.0f}%"
            alt = "?" if snap.alt_m is None else f"{snap.alt_m:.0f}m"
            bar.set_postfix_str(f"{snap.mode} alt {alt} batt {batt}", refresh=False)
            bar.refresh()

    def close(self) -> None:
        """Close every bar."""
        for bar in self._bars:
            bar.close()

    def __enter__(self) -> VehicleBars:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
