"""Telemetry logs in pymavlink's ``.tlog`` format.

Each record is an 8-byte big-endian timestamp in microseconds since the Unix epoch followed by
the raw MAVLink packet. ``mavutil.mavlink_connection(path)``, MAVExplorer and Mission Planner
read it. Only whole, CRC-checked packets are written, so a lost link leaves a gap in time,
never partial bytes.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from pathlib import Path
from typing import BinaryIO

from dronepatrol.errors import LinkError


class TlogWriter:
    """Append whole MAVLink packets with timestamps to a .tlog file (thread-safe)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: BinaryIO | None = open(self.path, "ab")  # noqa: SIM115
        except OSError as exc:
            raise LinkError(f"cannot open telemetry log {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()

    def write(self, packet: bytes, *, time_s: float | None = None) -> None:
        """Write one packet stamped with ``time_s`` (wall clock, default now)."""
        stamp = int((time.time() if time_s is None else time_s) * 1e6) & ~3
        with self._lock:
            if self._file is None:
                return
            self._file.write(struct.pack(">Q", stamp) + packet)
            now = time.monotonic()
            if now - self._last_flush > 1.0:
                self._file.flush()
                self._last_flush = now

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
