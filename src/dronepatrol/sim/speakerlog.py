"""Loudspeaker payload log: one JSON object per line in ``<log_dir>/speaker-<i>.jsonl``.

Events (all times are simulated seconds since the simulator started, ``alt_m`` is relative to
home, ``alt_amsl_m`` above mean sea level):

- ``{"event": "start", "vehicle": i, "message_id": 3, "volume_pct": 80.0, "repeat": 2,
  "play_duration_s": 10.0, "trigger": "mission"|"command"|"companion", "mission_seq": 5 | null,
  "sim_time_s": t, "lat_deg": .., "lon_deg": .., "alt_m": .., "alt_amsl_m": ..}``
- ``{"event": "position", "message_id": 3, "sim_time_s": t, "lat_deg": .., "lon_deg": ..,
  "alt_m": .., "alt_amsl_m": ..}`` at least every 1 s of simulated time while playing
- ``{"event": "end", "message_id": 3, "start_sim_time_s": t0, "sim_time_s": t1,
  "reason": "completed"|"stopped"|"replaced"|"shutdown", "lat_deg": .., ...}``

This module only reads and writes the file; it does not import pymavlink.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dronepatrol.errors import SimError


@dataclass(frozen=True, kw_only=True)
class SpeakerSample:
    """Vehicle position at one instant while a message was playing."""

    sim_time_s: float
    lat_deg: float
    lon_deg: float
    alt_m: float


@dataclass(frozen=True, kw_only=True)
class SpeakerBroadcast:
    """One broadcast: from the trigger that started it to the one (or the end) that stopped it.

    ``end_sim_time_s`` is None while the message is still playing.
    """

    message_id: int
    volume_pct: float
    repeat: int
    play_duration_s: float
    trigger: str
    mission_seq: int | None
    start_sim_time_s: float
    end_sim_time_s: float | None
    end_reason: str | None
    samples: tuple[SpeakerSample, ...]


def read_speaker_log(path: str | Path) -> list[SpeakerBroadcast]:
    """Parse a speaker log into broadcasts, in start order; a missing file gives ``[]``."""
    p = Path(path)
    if not p.exists():
        return []
    broadcasts: list[SpeakerBroadcast] = []
    current: dict[str, Any] | None = None
    samples: list[SpeakerSample] = []

    def close(end: dict[str, Any] | None) -> None:
        assert current is not None
        broadcasts.append(SpeakerBroadcast(
            message_id=int(current["message_id"]),
            volume_pct=float(current["volume_pct"]),
            repeat=int(current["repeat"]),
            play_duration_s=float(current["play_duration_s"]),
            trigger=str(current["trigger"]),
            mission_seq=current.get("mission_seq"),
            start_sim_time_s=float(current["sim_time_s"]),
            end_sim_time_s=None if end is None else float(end["sim_time_s"]),
            end_reason=None if end is None else str(end["reason"]),
            samples=tuple(samples),
        ))

    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            # a line being written while we read: ignore a torn last line only
            if lineno == len(p.read_text(encoding="utf-8").splitlines()):
                break
            raise SimError(f"{p}:{lineno}: not a JSON line: {line[:80]!r}") from None
        kind = rec.get("event")
        if kind not in ("start", "position", "end"):
            continue
        sample = SpeakerSample(sim_time_s=float(rec["sim_time_s"]), lat_deg=float(rec["lat_deg"]),
                               lon_deg=float(rec["lon_deg"]), alt_m=float(rec["alt_m"]))
        if kind == "start":
            if current is not None:
                close(None)
            current = rec
            samples = [sample]
        elif current is not None:
            samples.append(sample)
            if kind == "end":
                close(rec)
                current = None
                samples = []
    if current is not None:
        close(None)
    return broadcasts


class SpeakerLogWriter:
    """Append-only JSON-lines writer, flushed after every record so readers see it at once."""

    def __init__(self, path: Path | None) -> None:
        self._fh: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, record: dict[str, Any]) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
