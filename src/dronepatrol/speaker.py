"""The speaker agent: plays the companion plan's messages on board, from MAVLink telemetry.

``dronepatrol speaker --connect URL --plan DIR`` runs on the drone's companion computer
(a Raspberry Pi with a USB sound card and an amplifier). It reads
``DIR/<route>.companion.json`` (written by :func:`dronepatrol.broadcast.companion_plan`) and
the audio in ``DIR/audio/``, follows the autopilot's HEARTBEAT, MISSION_CURRENT and
GLOBAL_POSITION_INT, and plays the right message, looped, at the right volume.

Which message plays
-------------------
The plan rules (see :func:`dronepatrol.broadcast.companion_plan`), evaluated on every
telemetry message:

1. inside a ``no_fly`` polygon: silent;
2. armed, in AUTO, with MISSION_CURRENT = a ``seq`` of ``by_mission_seq``: that entry's
   message (0 = transit: silent); where the position lies inside a zone polygon listed in
   the entry's ``zones``, the highest-priority such message plays instead (ties keep the
   leg's own message). A message outside its time-of-day window (local time of the
   companion computer) does not play;
3. anything else (takeoff, RTL, LAND, disarmed, unlisted seq): silent.

A message with ``repeat`` n > 0 plays n times from the moment it was chosen, then stays
silent until the choice changes. One message plays at a time: a change stops the player
at once (the subprocess is terminated) before the next message starts.

Live commands (COMMAND_LONG or COMMAND_INT to the agent's sysid/compid)
-----------------------------------------------------------------------
* ``MAV_CMD_USER_1`` (31010): ``param1`` = message id to play now (looped; ``param3`` > 0
  plays it that many times), ``0`` = stop, ``-1`` = return to the plan; ``param2`` =
  volume % (1-100; 0 or NaN keeps the current volume). Compatible with the simulator's
  built-in speaker (same p1/p2/p3).
* ``MAV_CMD_USER_2`` (31011): ``param1`` = volume % (1-100).

Every command addressed to the agent is answered with COMMAND_ACK: ACCEPTED, DENIED
(unknown message id, volume out of range) or UNSUPPORTED (another command). The agent
takes the vehicle's system id from the first autopilot heartbeat (or ``--sysid``) and
ignores commands until then. A live play needs the vehicle's clock, so it starts with the
first GLOBAL_POSITION_INT.

The override rule: a live "play" plays its message everywhere (also in transit and over
no-fly areas: the operator decided) until a live "stop" or "return to plan", or until its
``param3`` plays are done (then the plan resumes). A live "stop" silences the agent *and
mutes the plan* until "return to plan" (``param1 = -1``) or a new "play".
A volume change applies from the next play of the loop (the play in progress finishes at
its volume); the log records the lowest volume of a broadcast, so coverage is never
overstated.

Status reported as component ``compid`` (default 25, MAV_COMP_ID_USER1) of the vehicle's
system: HEARTBEAT at 1 Hz (MAV_TYPE_ONBOARD_CONTROLLER, MAV_AUTOPILOT_INVALID,
``custom_mode`` = message playing, ``system_status`` ACTIVE while playing, STANDBY when
silent), NAMED_VALUE_INT ``SPK_MSG`` (message id, 0 = silent), ``SPK_VOL`` (volume %),
``SPK_MODE`` (0 plan, 1 live, 2 muted) at 1 Hz and at once on a change, and a STATUSTEXT
on each change. ArduPilot routes COMMAND_LONG from the GCS to the agent once it has seen
the agent's heartbeat on its link; with a GCS that talks to the companion directly (or the
built-in simulator, which does not route), add ``--gcs udpin:0.0.0.0:14600``.

Link loss
---------
With no telemetry from the autopilot for ``link_timeout_s`` (default 5 s of wall time) the
agent stops playing (a drone out of contact may be anywhere) and keeps reopening the link
every second; playback resumes by the same rules when telemetry returns. Bad or unexpected
packets are ignored, never fatal.

Play log
--------
One JSON line per broadcast, written when it stops, in the format
:func:`dronepatrol.report.read_speaker_log` reads: ``{"type": "play", "vehicle",
"message_id", "volume_pct", "period_s", "start_s", "end_s", "track": [[t_s, lon, lat,
alt_m], ...], ...}``. Times are the autopilot's clock (GLOBAL_POSITION_INT ``time_boot_ms``
in seconds), the clock of the flight's telemetry log, so plays and the flown track line up,
also on a simulator running faster than real time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from dronepatrol.broadcast import COMPANION_PLAN_FORMAT, TimeWindow
from dronepatrol.errors import AudioError, DronePatrolError, LinkError, PlanningError

__all__ = [
    "DEFAULT_COMPONENT_ID",
    "MAV_CMD_USER_1",
    "MAV_CMD_USER_2",
    "AgentState",
    "CompanionPlan",
    "Decision",
    "DryRunPlayer",
    "PlanMessage",
    "Player",
    "ProcessPlayer",
    "SpeakerAgent",
    "add_arguments",
    "run",
]

#: MAV_COMP_ID_USER1: the agent's component id on a real drone.
DEFAULT_COMPONENT_ID = 25
MAV_CMD_USER_1 = 31010
MAV_CMD_USER_2 = 31011
#: Stop playing after this long without telemetry (wall seconds).
DEFAULT_LINK_TIMEOUT_S = 5.0

_MAV_TYPE_ONBOARD_CONTROLLER = 18
_MAV_AUTOPILOT_INVALID = 8
_MAV_AUTOPILOT_ARDUPILOTMEGA = 3
_MAV_AUTOPILOT_PX4 = 12
_MAV_STATE_STANDBY = 3
_MAV_STATE_ACTIVE = 4
_MAV_MODE_FLAG_SAFETY_ARMED = 128
_MAV_MODE_FLAG_AUTO_ENABLED = 4
_MAV_SEVERITY_INFO = 6
_MAV_SEVERITY_WARNING = 4
_RESULT_ACCEPTED, _RESULT_DENIED, _RESULT_UNSUPPORTED = 0, 2, 3
_COPTER_AUTO = 3
_MSG_GLOBAL_POSITION_INT = 33
_MSG_MISSION_CURRENT = 42
_CMD_SET_MESSAGE_INTERVAL = 511
_TRACK_STEP_S = 0.2

MODE_PLAN, MODE_LIVE, MODE_MUTED = "plan", "live", "muted"
_MODE_NUMBER = {MODE_PLAN: 0, MODE_LIVE: 1, MODE_MUTED: 2}


# ------------------------------------------------------------------------------------ plan


@dataclass(frozen=True, kw_only=True)
class PlanMessage:
    """One message of a companion plan, with the audio file to play (None: not rendered)."""

    id: int
    text: str
    audio_path: Path | None
    duration_s: float
    gap_s: float
    priority: int = 0
    repeat: int = 0
    window: TimeWindow | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.id <= 65535:
            raise PlanningError(f"companion plan: message id {self.id} not in 1..65535")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise PlanningError(
                f"companion plan: message {self.id} has duration_s={self.duration_s!r}; "
                "render the messages (dronepatrol plan) so durations are measured"
            )
        if not (math.isfinite(self.gap_s) and self.gap_s >= 0):
            raise PlanningError(f"companion plan: message {self.id} gap_s={self.gap_s!r} < 0")

    @property
    def period_s(self) -> float:
        """One play including the gap, seconds."""
        return self.duration_s + self.gap_s


@dataclass(frozen=True)
class Decision:
    """What should play: ``message_id`` (0 = silence), the zone it is for, and why."""

    message_id: int
    zone: str | None = None
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class _SeqEntry:
    seq: int
    message_id: int
    zone: str | None
    zones: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class _PlanZone:
    name: str
    message_id: int
    priority: int
    geometry: BaseGeometry


def _polygons(raw: Any, where: str) -> BaseGeometry:
    polys = []
    for k, p in enumerate(raw):
        try:
            poly = Polygon(p["exterior"], p.get("holes") or [])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlanningError(
                f"{where}: polygon {k} is not {{'exterior': [[lon, lat], ...], 'holes': ...}} "
                f"({exc})") from None
        if not poly.is_valid:
            poly = poly.buffer(0)
        polys.append(poly)
    geom = MultiPolygon([q for p in polys for q in shapely.get_parts(p)
                         if isinstance(q, Polygon) and not q.is_empty]) if polys else Polygon()
    shapely.prepare(geom)
    return geom


@dataclass(frozen=True, eq=False)
class CompanionPlan:
    """A loaded ``<route>.companion.json``: messages, per-seq entries, zone polygons.

    Build it with :meth:`load` (a plan directory) or :meth:`from_json` (the dict).
    """

    route: str
    volume_pct: float
    messages: Mapping[int, PlanMessage]
    by_seq: Mapping[int, _SeqEntry]
    zones: Mapping[str, _PlanZone]
    no_fly: BaseGeometry
    source: Path | None = None

    @classmethod
    def from_json(cls, doc: Any, *, audio_dir: Path | None = None,
                  source: Path | None = None) -> CompanionPlan:
        """Validate a companion plan dict; audio names are resolved in ``audio_dir``."""
        where = str(source) if source is not None else "companion plan"
        if not isinstance(doc, dict) or doc.get("format") != COMPANION_PLAN_FORMAT:
            got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise PlanningError(f"{where}: format is {got!r}, expected {COMPANION_PLAN_FORMAT!r}"
                                "; write it with dronepatrol.broadcast.companion_plan")
        try:
            messages: dict[int, PlanMessage] = {}
            for m in doc["messages"]:
                audio = m.get("audio")
                window = TimeWindow.parse(m["window"]) if m.get("window") else None
                duration = m.get("duration_s")
                messages[int(m["id"])] = PlanMessage(
                    id=int(m["id"]), text=str(m.get("text", "")),
                    audio_path=(audio_dir / audio) if (audio and audio_dir is not None) else None,
                    duration_s=float(duration) if duration is not None else math.nan,
                    gap_s=float(m.get("gap_s", 0.0)), priority=int(m.get("priority", 0)),
                    repeat=int(m.get("repeat", 0)), window=window)
            by_seq: dict[int, _SeqEntry] = {}
            for e in doc["by_mission_seq"]:
                by_seq[int(e["seq"])] = _SeqEntry(
                    seq=int(e["seq"]), message_id=int(e["message_id"]), zone=e.get("zone"),
                    zones=tuple(str(z) for z in e.get("zones", ())))
            zones = {str(z["zone"]): _PlanZone(
                name=str(z["zone"]), message_id=int(z["message_id"]),
                priority=int(z.get("priority", 0)),
                geometry=_polygons(z["polygons"], f"{where}: zone {z['zone']!r}"))
                for z in doc.get("zones", ())}
            no_fly = _polygons([p for z in doc.get("no_fly", ()) for p in z["polygons"]],
                               f"{where}: no_fly")
            volume = float(doc.get("volume_pct", 100.0))
            route = str(doc["route"])
        except PlanningError:
            raise
        except (KeyError, TypeError, ValueError, DronePatrolError) as exc:
            raise PlanningError(f"{where}: malformed companion plan ({type(exc).__name__}: "
                                f"{exc}); regenerate it with `dronepatrol plan`") from None
        for e in by_seq.values():
            if e.message_id and e.message_id not in messages:
                raise PlanningError(f"{where}: mission seq {e.seq} plays message "
                                    f"{e.message_id}, which the plan does not define")
        for z in zones.values():
            if z.message_id not in messages:
                raise PlanningError(f"{where}: zone {z.name!r} plays message {z.message_id}, "
                                    "which the plan does not define")
        if not (math.isfinite(volume) and 0 < volume <= 100):
            raise PlanningError(f"{where}: volume_pct={volume!r} must be in (0, 100]")
        return cls(route=route, volume_pct=volume, messages=messages, by_seq=by_seq,
                   zones=zones, no_fly=no_fly, source=source)

    @classmethod
    def load(cls, plan_dir: str | Path, route: str | None = None) -> CompanionPlan:
        """Read ``plan_dir/<route>.companion.json``; ``route`` may be omitted if there is one."""
        d = Path(plan_dir)
        if not d.is_dir():
            raise PlanningError(f"speaker: plan directory {d} does not exist; give the DIR "
                                "written by `dronepatrol plan`")
        found = sorted(p.name[: -len(".companion.json")] for p in d.glob("*.companion.json"))
        if route is None:
            if len(found) != 1:
                what = (f"several companion plans ({', '.join(found)}); choose one with --route"
                        if found else "no <route>.companion.json; run `dronepatrol plan` on "
                        "zones with a 'message' property (or --default-messages) to write one")
                raise PlanningError(f"speaker: {d} has {what}")
            route = found[0]
        path = d / f"{route}.companion.json"
        if not path.exists():
            raise PlanningError(f"speaker: {path} does not exist; routes with a companion plan "
                                f"in {d}: {', '.join(found) or 'none'}")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PlanningError(f"speaker: cannot read {path} as JSON ({exc})") from None
        return cls.from_json(doc, audio_dir=d / "audio", source=path)

    def check_audio(self) -> None:
        """:class:`AudioError` unless every message has a readable PCM WAV file."""
        for m in self.messages.values():
            if m.audio_path is None:
                raise AudioError(f"{self.source}: message {m.id} has no audio file; render the "
                                 "messages (dronepatrol plan) or use --dry-run")
            _read_pcm(m.audio_path)

    def decide(self, *, lat_deg: float | None, lon_deg: float | None, seq: int | None,
               auto: bool, armed: bool, time_of_day_s: float) -> Decision:
        """The plan rules of the module docstring, for one telemetry state."""
        if lat_deg is None or lon_deg is None:
            return Decision(0, None, "no position")
        pt = Point(lon_deg, lat_deg)
        if not self.no_fly.is_empty and self.no_fly.contains(pt):
            return Decision(0, None, "no-fly area")
        if not (armed and auto):
            return Decision(0, None, "not flying a mission")
        entry = self.by_seq.get(seq) if seq is not None else None
        if entry is None:
            return Decision(0, None, f"mission item {seq} not in the plan")
        if entry.message_id == 0:
            return Decision(0, None, "transit")
        own = self.messages[entry.message_id]
        cands: list[tuple[int, int, str | None]] = [(own.priority, 1, entry.zone)]
        ids = {entry.zone: entry.message_id}
        for name in entry.zones:
            z = self.zones.get(name)
            if z is not None and z.geometry.contains(pt):
                cands.append((z.priority, 0, name))
                ids[name] = z.message_id
        cands = [c for c in cands
                 if _in_window(self.messages[ids[c[2]]].window, time_of_day_s)]
        if not cands:
            return Decision(0, None, "outside the message's time window")
        _, _, zone = max(cands, key=lambda c: (c[0], c[1]))
        return Decision(ids[zone], zone, "plan")


def _in_window(window: TimeWindow | None, tod_s: float) -> bool:
    return window is None or window.contains_s(tod_s)


def _local_time_of_day_s() -> float:
    now = _dt.datetime.now()
    return now.hour * 3600.0 + now.minute * 60.0 + now.second + now.microsecond * 1e-6


# --------------------------------------------------------------------------------- players


class Player(Protocol):
    """Plays one message at a time, looped, until stopped."""

    def play(self, message: PlanMessage, volume_pct: float) -> None:
        """Start looping ``message`` (stopping whatever plays)."""

    def set_volume(self, volume_pct: float) -> None:
        """Volume for the following plays."""

    def stop(self) -> None:
        """Stop at once."""

    def close(self) -> None:
        """Stop and release resources."""


class DryRunPlayer:
    """Plays nothing; writes what it would play to ``out`` (stderr by default)."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out
        self.playing: int = 0

    def _say(self, text: str) -> None:
        out = self._out if self._out is not None else sys.stderr
        print(f"dronepatrol speaker: {text}", file=out, flush=True)

    def play(self, message: PlanMessage, volume_pct: float) -> None:
        """Log the message it would loop."""
        self.playing = message.id
        self._say(f"would play message {message.id} at {volume_pct:g}% looped every "
                  f"{message.period_s:.1f} s ({message.audio_path or 'no audio file'})")

    def set_volume(self, volume_pct: float) -> None:
        """Log the volume change."""
        if self.playing:
            self._say(f"would set volume {volume_pct:g}%")

    def stop(self) -> None:
        """Log the stop."""
        if self.playing:
            self._say(f"would stop message {self.playing}")
        self.playing = 0

    def close(self) -> None:
        """Same as :meth:`stop`."""
        self.stop()


def _read_pcm(path: Path) -> tuple[wave._wave_params, bytes]:
    try:
        with wave.open(str(path), "rb") as w:
            params = w.getparams()
            frames = w.readframes(params.nframes)
    except FileNotFoundError:
        raise AudioError(f"audio file {path} does not exist; render the messages with "
                         "`dronepatrol plan` or use --dry-run") from None
    except (wave.Error, EOFError, OSError) as exc:
        raise AudioError(f"cannot read {path} as a PCM WAV file ({exc})") from None
    if params.sampwidth not in (1, 2, 4) or params.nframes <= 0:
        raise AudioError(f"{path}: {params.sampwidth * 8}-bit / {params.nframes} frames; "
                         "give 8, 16 or 32-bit PCM WAV with audio in it")
    return params, frames


def scaled_wav(path: Path, volume_pct: float, out_dir: Path) -> Path:
    """A copy of WAV ``path`` with amplitude scaled by ``volume_pct`` / 100 (cached)."""
    if volume_pct >= 100.0:
        return path
    out = out_dir / f"{path.stem}-v{volume_pct:g}.wav"
    if out.exists():
        return out
    params, frames = _read_pcm(path)
    gain = max(volume_pct, 0.0) / 100.0
    if params.sampwidth == 1:  # unsigned 8-bit
        a = np.frombuffer(frames, dtype=np.uint8).astype(np.float64) - 128.0
        data = (np.clip(np.round(a * gain), -128, 127) + 128).astype(np.uint8).tobytes()
    else:
        dt = np.dtype("<i2") if params.sampwidth == 2 else np.dtype("<i4")
        a = np.frombuffer(frames, dtype=dt).astype(np.float64)
        info = np.iinfo(dt)
        data = np.clip(np.round(a * gain), info.min, info.max).astype(dt).tobytes()
    tmp = out.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setparams(params)
        w.writeframes(data)
    tmp.replace(out)
    return out


#: Players tried in order: (executable, arguments before the file, device option).
_PLAYERS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("aplay", ("-q",), "-D"),
    ("pw-play", (), "--target"),
    ("paplay", (), "--device"),
    ("ffplay", ("-nodisp", "-autoexit", "-loglevel", "quiet"), None),
)


def find_player_command(device: str | None = None) -> list[str]:
    """The command (without the file) of the first audio player found: aplay (ALSA) first."""
    for exe, args, dev_opt in _PLAYERS:
        path = shutil.which(exe)
        if path is None:
            continue
        cmd = [path, *args]
        if device and dev_opt:
            cmd += [dev_opt, device]
        return cmd
    raise AudioError("no audio player found (tried aplay, pw-play, paplay, ffplay); install "
                     "ALSA's `aplay` (Debian: apt-get install alsa-utils) or use --dry-run")


class ProcessPlayer:
    """Loops a WAV file with an audio player subprocess (``aplay`` by default).

    One thread runs the player once per play and waits ``gap_s`` between plays; :meth:`stop`
    terminates the subprocess at once and waits for it, so two plays never overlap.
    ``command`` is the player and its options; the WAV path is appended.
    """

    def __init__(self, command: Sequence[str] | None = None, *, device: str | None = None,
                 cache_dir: str | Path | None = None) -> None:
        self.command = list(command) if command else find_player_command(device)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if cache_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dronepatrol-speaker-")
            cache_dir = self._tmp.name
        self._cache = Path(cache_dir)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._volume = 100.0
        self.plays_started = 0
        self.errors: list[str] = []

    def play(self, message: PlanMessage, volume_pct: float) -> None:
        """Stop what plays, then loop ``message``."""
        if message.audio_path is None:
            raise AudioError(f"message {message.id} has no audio file to play")
        self.stop()
        self._volume = volume_pct
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(message, self._stop),
                                        name=f"speaker-play-{message.id}", daemon=True)
        self._thread.start()

    def set_volume(self, volume_pct: float) -> None:
        """Volume for the next plays of the loop."""
        self._volume = volume_pct

    def _loop(self, message: PlanMessage, stop: threading.Event) -> None:
        assert message.audio_path is not None
        while not stop.is_set():
            try:
                wav = scaled_wav(message.audio_path, self._volume, self._cache)
            except (AudioError, OSError) as exc:
                self.errors.append(str(exc))
                return
            with self._lock:
                if stop.is_set():
                    return
                try:
                    self._proc = subprocess.Popen([*self.command, str(wav)],
                                                  stdin=subprocess.DEVNULL,
                                                  stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.PIPE)
                except OSError as exc:
                    self.errors.append(f"cannot run {self.command[0]}: {exc}")
                    return
                self.plays_started += 1
                proc = self._proc
            _, err = proc.communicate()
            if proc.returncode not in (0, None) and not stop.is_set():
                self.errors.append(f"{self.command[0]} exited with {proc.returncode}: "
                                   f"{err.decode(errors='replace').strip()[:200]}")
                stop.wait(1.0)  # do not spin on a broken sound card
            if stop.wait(message.gap_s):
                return

    def stop(self) -> None:
        """Terminate the player now and wait until it has exited."""
        self._stop.set()
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=3.0)
        self._thread = None

    def close(self) -> None:
        """Stop and remove the cache of scaled audio."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


# ------------------------------------------------------------------------------------ links


class _LinkDown(Exception):
    pass


def _raise_down() -> None:
    raise _LinkDown()


class _Link:
    """One pymavlink connection with a reader thread that reopens it when it fails."""

    def __init__(self, url: str, inbox: queue.Queue[tuple[_Link, Any]], *, name: str,
                 component_id: int, reconnect_s: float = 1.0) -> None:
        from dronepatrol.link import _codec

        self._codec = _codec
        self.url = url
        self.name = name
        self._inbox = inbox
        self._component_id = component_id
        self._system_id = 1
        self._reconnect_s = reconnect_s
        self._send_lock = threading.Lock()
        self._closed = threading.Event()
        self._conn: Any = None
        self.reopens = 0
        self.bad_packets = 0
        self._open()
        self._thread = threading.Thread(target=self._read_loop, name=f"speaker-rx {url}",
                                        daemon=True)
        self._thread.start()

    def _open(self) -> None:
        conn = self._codec.open_connection(self.url, source_system=self._system_id,
                                           source_component=self._component_id)
        if hasattr(conn, "handle_eof"):
            conn.handle_eof = _raise_down
            conn.handle_disconnect = _raise_down
        conn.mav.robust_parsing = True
        with self._send_lock:
            self._conn = conn

    def set_system_id(self, system_id: int) -> None:
        self._system_id = system_id
        with self._send_lock:
            if self._conn is not None:
                self._conn.mav.srcSystem = system_id

    def _drop(self) -> None:
        with self._send_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            conn = self._conn
            if conn is None:
                try:
                    self._open()
                    self.reopens += 1
                except LinkError:
                    self._closed.wait(self._reconnect_s)
                continue
            try:
                msg = conn.recv_msg()
                if msg is None:
                    conn.select(0.05)
                    continue
            except (_LinkDown, OSError):
                if self._closed.is_set():
                    return
                self._drop()
                self._closed.wait(self._reconnect_s)
                continue
            except Exception:  # a malformed packet must never stop the agent
                self.bad_packets += 1
                continue
            if msg.get_type() == "BAD_DATA":
                self.bad_packets += 1
                continue
            self._inbox.put((self, msg))

    def send(self, name: str, *args: Any) -> bool:
        with self._send_lock:
            conn = self._conn
            if conn is None or self._closed.is_set():
                return False
            try:
                getattr(conn.mav, name + "_send")(*args)
            except Exception:  # a dead socket or an out-of-range field: the link is best effort
                return False
        return True

    def close(self) -> None:
        self._closed.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._drop()


# ------------------------------------------------------------------------------------ agent


@dataclass(frozen=True, kw_only=True)
class AgentState:
    """A snapshot of the agent for callers and tests."""

    message_id: int
    volume_pct: float
    mode: str
    zone: str | None
    link_ok: bool
    system_id: int | None
    vehicle_time_s: float | None
    plays_logged: int


@dataclass
class _Session:
    message_id: int
    zone: str | None
    source: str
    start_s: float
    volume_pct: float
    period_s: float
    track: list[list[float]] = field(default_factory=list)


class SpeakerAgent:
    """The companion-side speaker agent (see the module docstring for the rules).

    >>> plan = CompanionPlan.load("out")                                  # doctest: +SKIP
    >>> with SpeakerAgent(plan, "tcp:127.0.0.1:5760", player=DryRunPlayer(),
    ...                   log_path="out/flight/speaker-1.jsonl") as agent:  # doctest: +SKIP
    ...     agent.wait_until(lambda s: s.link_ok, timeout_s=30)

    ``url`` is the autopilot link (serial ``/dev/ttyAMA0,921600``, ``udpin:...``,
    ``tcp:...``); ``gcs_urls`` extra links on which ground stations talk to the agent
    directly. ``system_id`` is the vehicle to follow (default: the first autopilot heard).
    ``time_of_day`` returns local seconds since midnight (for message windows).
    """

    def __init__(self, plan: CompanionPlan, url: str, *, player: Player,
                 log_path: str | Path | None = None, component_id: int = DEFAULT_COMPONENT_ID,
                 system_id: int | None = None, gcs_urls: Sequence[str] = (),
                 volume_pct: float | None = None,
                 link_timeout_s: float = DEFAULT_LINK_TIMEOUT_S, telemetry_hz: float = 4.0,
                 time_of_day: Callable[[], float] = _local_time_of_day_s) -> None:
        if not 1 <= component_id <= 255:
            raise LinkError(f"speaker: component id {component_id} not in 1..255 "
                            "(25 = MAV_COMP_ID_USER1 is the usual choice)")
        if component_id == 1:
            raise LinkError("speaker: component id 1 is the autopilot's; use 25 (USER1) or "
                            "another free id")
        if system_id is not None and not 1 <= system_id <= 255:
            raise LinkError(f"speaker: system id {system_id} not in 1..255")
        vol = plan.volume_pct if volume_pct is None else float(volume_pct)
        if not (math.isfinite(vol) and 0 < vol <= 100):
            raise AudioError(f"speaker: volume {vol!r}% must be in (0, 100]")
        if not (link_timeout_s > 0 and telemetry_hz > 0):
            raise LinkError("speaker: link_timeout_s and telemetry_hz must be > 0")
        self.plan = plan
        self.url = url
        self.player = player
        self.component_id = component_id
        self.link_timeout_s = float(link_timeout_s)
        self.telemetry_hz = float(telemetry_hz)
        self._gcs_urls = list(gcs_urls)
        self._want_sysid = system_id
        self._time_of_day = time_of_day
        self.log_path = Path(log_path) if log_path is not None else None
        self._log: IO[str] | None = None
        # vehicle state
        self.system_id: int | None = system_id
        self._ap_compid: int | None = None
        self._lat: float | None = None
        self._lon: float | None = None
        self._alt: float = 0.0
        self._t: float | None = None
        self._seq: int | None = None
        self._auto = False
        self._armed = False
        self._last_rx = -math.inf
        self._last_pos_rx = -math.inf
        self._last_stream_req = -math.inf
        # speaker state
        self.volume_pct = vol
        self.mode = MODE_PLAN
        self._live_id = 0
        self._live_repeat = 0
        self._live_since: float | None = None
        self._choice: Decision = Decision(0)
        self._choice_since: float | None = None
        self._session: _Session | None = None
        self._playing_zone: str | None = None
        self.plays_logged = 0
        self._last_status = -math.inf
        self._state_lock = threading.Lock()
        self._snapshot = self._make_snapshot()
        self._inbox: queue.Queue[tuple[_Link, Any]] = queue.Queue()
        self._links: list[_Link] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> SpeakerAgent:
        """Open the links and start the agent's thread."""
        if self._thread is not None:
            return self
        if self.log_path is not None:
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise DronePatrolError(f"speaker: cannot write the play log {self.log_path}: "
                                       f"{exc.strerror or exc}") from None
        try:
            self._links.append(_Link(self.url, self._inbox, name="autopilot",
                                     component_id=self.component_id))
            for u in self._gcs_urls:
                self._links.append(_Link(u, self._inbox, name="gcs",
                                         component_id=self.component_id))
        except LinkError:
            self._close_links()
            if self._log is not None:
                self._log.close()
                self._log = None
            raise
        if self.system_id is not None:
            for link in self._links:
                link.set_system_id(self.system_id)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="speaker-agent", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop playing, log the broadcast in progress, close the links and the log."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._thread = None
        self._switch(Decision(0, None, "shutdown"), "shutdown")
        self.player.close()
        self._close_links()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _close_links(self) -> None:
        for link in self._links:
            link.close()
        self._links = []

    def __enter__(self) -> SpeakerAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def state(self) -> AgentState:
        """The latest state (thread-safe)."""
        with self._state_lock:
            return self._snapshot

    def wait_until(self, condition: Callable[[AgentState], bool], *, timeout_s: float
                   ) -> AgentState:
        """Block until ``condition(state)`` holds; :class:`LinkError` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            s = self.state
            if condition(s):
                return s
            if time.monotonic() > deadline:
                raise LinkError(f"speaker: condition not met within {timeout_s:g} s; "
                                f"state {s}")
            time.sleep(0.02)

    def run_forever(self) -> None:
        """Run until Ctrl-C / SIGTERM (what ``dronepatrol speaker`` does)."""
        self.start()
        try:
            while not self._stop.wait(0.5):
                pass
        finally:
            self.stop()

    # -- main loop -------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                link, msg = self._inbox.get(timeout=0.1)
            except queue.Empty:
                link, msg = None, None
            try:
                if msg is not None and link is not None:
                    self._handle(link, msg)
                self._tick()
            except Exception as exc:  # never crash on one bad packet or player hiccup
                self.errors.append(f"{type(exc).__name__}: {exc}")
                if len(self.errors) > 100:
                    del self.errors[:50]

    def _link_ok(self) -> bool:
        return time.monotonic() - self._last_rx <= self.link_timeout_s

    def _tick(self) -> None:
        now = time.monotonic()
        if self.system_id is not None and now - self._last_status >= 1.0:
            self._last_status = now
            self._send_status()
        if self.system_id is not None and now - self._last_pos_rx > 3.0 \
                and now - self._last_stream_req > 3.0:
            self._request_streams()
        if not self._link_ok() and self._session is not None:
            self._switch(Decision(0, None, "link lost"), "link lost")
            self._text(f"SPK: link lost >{self.link_timeout_s:g}s, silent",
                       _MAV_SEVERITY_WARNING)
        self._publish()

    def _handle(self, link: _Link, msg: Any) -> None:
        t = msg.get_type()
        src, comp = msg.get_srcSystem(), msg.get_srcComponent()
        if src == self.system_id and comp == self.component_id:
            return  # our own packet echoed by a router
        if t in ("COMMAND_LONG", "COMMAND_INT"):
            self._on_command(link, msg)
            return
        if link.name != "autopilot":
            return
        if t == "HEARTBEAT":
            if msg.autopilot == _MAV_AUTOPILOT_INVALID or msg.type in (6, 18):
                return  # a GCS or another companion
            if self.system_id is None and self._want_sysid in (None, src):
                self.system_id = src
                for lk in self._links:
                    lk.set_system_id(src)
                self._text(f"SPK: following vehicle {src}, route {self.plan.route}")
            if src != self.system_id:
                return
            self._ap_compid = comp
            self._armed = bool(msg.base_mode & _MAV_MODE_FLAG_SAFETY_ARMED)
            self._auto = _is_auto(msg.autopilot, msg.base_mode, msg.custom_mode)
            self._last_rx = time.monotonic()
            self._update()
        elif src != self.system_id or (self._ap_compid is not None and comp != self._ap_compid):
            return
        elif t == "GLOBAL_POSITION_INT":
            tb = msg.time_boot_ms / 1000.0
            if self._t is not None and tb < self._t - 1.0:  # autopilot rebooted
                self._switch(Decision(0, None, "autopilot clock restarted"), "clock restart")
            self._t = tb
            self._lat, self._lon = msg.lat / 1e7, msg.lon / 1e7
            self._alt = msg.relative_alt / 1000.0
            self._last_rx = self._last_pos_rx = time.monotonic()
            s = self._session
            if s is not None and (not s.track or tb - s.track[-1][0] >= _TRACK_STEP_S):
                s.track.append(self._sample())
            self._update()
        elif t == "MISSION_CURRENT":
            self._seq = int(msg.seq)
            self._last_rx = time.monotonic()
            self._update()

    def _sample(self) -> list[float]:
        return [round(self._t or 0.0, 3), round(self._lon or 0.0, 8), round(self._lat or 0.0, 8),
                round(self._alt, 2)]

    def _request_streams(self) -> None:
        self._last_stream_req = time.monotonic()
        assert self.system_id is not None
        target = self._ap_compid or 1
        interval_us = 1e6 / self.telemetry_hz
        link = self._links[0] if self._links else None
        if link is None:
            return
        for mid in (_MSG_GLOBAL_POSITION_INT, _MSG_MISSION_CURRENT):
            link.send("command_long", self.system_id, target, _CMD_SET_MESSAGE_INTERVAL, 0,
                      float(mid), interval_us, 0, 0, 0, 0, 0)
        rate = max(1, int(round(self.telemetry_hz)))
        for stream in (2, 6):  # EXTENDED_STATUS (MISSION_CURRENT), POSITION
            link.send("request_data_stream", self.system_id, target, stream, rate, 1)

    # -- deciding ----------------------------------------------------------------------------------
    def _desired(self) -> Decision:
        if not self._link_ok():
            return Decision(0, None, "link lost")
        t = self._t
        if self.mode == MODE_LIVE:
            msg = self.plan.messages[self._live_id]
            if self._live_repeat and t is not None and self._live_since is not None \
                    and t - self._live_since >= self._live_repeat * msg.period_s - 1e-9:
                self.mode = MODE_PLAN  # live plays done: back to the plan
                self._text(f"SPK: live message {self._live_id} done, back to plan")
            else:
                return Decision(self._live_id, None, "live")
        if self.mode == MODE_MUTED:
            return Decision(0, None, "muted")
        d = self.plan.decide(lat_deg=self._lat, lon_deg=self._lon, seq=self._seq,
                             auto=self._auto, armed=self._armed,
                             time_of_day_s=self._time_of_day())
        if d.message_id != self._choice.message_id:
            self._choice, self._choice_since = d, t
        if d.message_id:
            m = self.plan.messages[d.message_id]
            if m.repeat and t is not None and self._choice_since is not None \
                    and t - self._choice_since >= m.repeat * m.period_s - 1e-9:
                return Decision(0, None, f"message {m.id} played {m.repeat} times")
        return d

    def _update(self) -> None:
        d = self._desired()
        cur = self._session.message_id if self._session is not None else 0
        if d.message_id != cur:
            self._switch(d, "replaced" if d.message_id else d.reason)

    def _switch(self, d: Decision, reason: str) -> None:
        s = self._session
        if s is not None:
            self.player.stop()
            self._close_session(s, reason)
            self._session = None
        if d.message_id and self._t is not None:
            msg = self.plan.messages[d.message_id]
            self._session = _Session(message_id=d.message_id, zone=d.zone, source=d.reason,
                                     start_s=self._t, volume_pct=self.volume_pct,
                                     period_s=msg.period_s, track=[self._sample()])
            self.player.play(msg, self.volume_pct)
            where = f" zone {d.zone}" if d.zone else f" ({d.reason})"
            self._text(f"SPK: play {d.message_id}{where} {self.volume_pct:g}%")
        elif s is not None:
            self._text(f"SPK: silent ({d.reason or reason})")
        self._send_values()
        self._publish()

    def _close_session(self, s: _Session, reason: str) -> None:
        end = self._t if self._t is not None else s.start_s
        if self._lat is not None and (not s.track or s.track[-1][0] < end):
            s.track.append(self._sample())
        rec = {"type": "play", "vehicle": str(self.system_id), "message_id": s.message_id,
               "volume_pct": s.volume_pct, "period_s": round(s.period_s, 3),
               "start_s": round(s.start_s, 3), "end_s": round(max(end, s.start_s), 3),
               "zone": s.zone, "source": s.source, "end_reason": reason,
               "route": self.plan.route, "track": s.track}
        if self._log is not None:
            self._log.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self._log.flush()
        self.plays_logged += 1

    # -- commands ----------------------------------------------------------------------------------
    def _on_command(self, link: _Link, msg: Any) -> None:
        if self.system_id is None or msg.target_system != self.system_id \
                or msg.target_component != self.component_id:
            return
        cmd = int(msg.command)
        result = _RESULT_UNSUPPORTED
        if cmd == MAV_CMD_USER_1:
            result = self._cmd_play(msg.param1, msg.param2, msg.param3)
        elif cmd == MAV_CMD_USER_2:
            result = self._cmd_volume(msg.param1)
        link.send("command_ack", cmd, result, 0, 0, msg.get_srcSystem(), msg.get_srcComponent())

    def _cmd_volume(self, value: float) -> int:
        if not (math.isfinite(value) and 1 <= value <= 100):
            self._text(f"SPK: volume {value:g} refused (1-100)", _MAV_SEVERITY_WARNING)
            return _RESULT_DENIED
        self.volume_pct = float(value)
        self.player.set_volume(self.volume_pct)
        if self._session is not None:
            self._session.volume_pct = min(self._session.volume_pct, self.volume_pct)
        self._text(f"SPK: volume {self.volume_pct:g}%")
        self._send_values()
        self._publish()
        return _RESULT_ACCEPTED

    def _cmd_play(self, p1: float, p2: float, p3: float) -> int:
        if not math.isfinite(p1) or p1 != int(p1):
            return _RESULT_DENIED
        mid = int(p1)
        if mid > 0 and mid not in self.plan.messages:
            self._text(f"SPK: no message {mid}", _MAV_SEVERITY_WARNING)
            return _RESULT_DENIED
        if mid < -1:
            return _RESULT_DENIED
        if math.isfinite(p2) and p2 != 0:
            if self._cmd_volume(p2) != _RESULT_ACCEPTED:
                return _RESULT_DENIED
        if mid > 0:
            self.mode, self._live_id, self._live_since = MODE_LIVE, mid, self._t
            self._live_repeat = int(p3) if math.isfinite(p3) and 0 < p3 < 256 else 0
            if self._session is not None:  # restart from the top, even if already playing
                self._switch(Decision(0, None, "live"), "replaced")
        elif mid == 0:
            self.mode = MODE_MUTED
            self._text("SPK: stopped by GCS, plan muted")
        else:
            self.mode = MODE_PLAN
            self._choice = Decision(0)
            self._text("SPK: back to plan")
        self._update()
        self._send_values()
        self._publish()
        return _RESULT_ACCEPTED

    # -- status ------------------------------------------------------------------------------------
    def _current_id(self) -> int:
        return self._session.message_id if self._session is not None else 0

    def _send_all(self, name: str, *args: Any) -> None:
        for link in self._links:
            link.send(name, *args)

    def _send_status(self) -> None:
        mid = self._current_id()
        self._send_all("heartbeat", _MAV_TYPE_ONBOARD_CONTROLLER, _MAV_AUTOPILOT_INVALID, 0,
                       mid, _MAV_STATE_ACTIVE if mid else _MAV_STATE_STANDBY)
        self._send_values()

    def _send_values(self) -> None:
        if self.system_id is None:
            return
        ms = int((self._t or 0.0) * 1000) & 0xFFFFFFFF
        self._send_all("named_value_int", ms, b"SPK_MSG", self._current_id())
        self._send_all("named_value_int", ms, b"SPK_VOL", int(round(self.volume_pct)))
        self._send_all("named_value_int", ms, b"SPK_MODE", _MODE_NUMBER[self.mode])

    def _text(self, text: str, severity: int = _MAV_SEVERITY_INFO) -> None:
        if self.system_id is not None:
            self._send_all("statustext", severity, text.encode("utf-8")[:50])

    def _make_snapshot(self) -> AgentState:
        return AgentState(message_id=self._current_id(), volume_pct=self.volume_pct,
                          mode=self.mode, zone=self._session.zone if self._session else None,
                          link_ok=self._link_ok(), system_id=self.system_id,
                          vehicle_time_s=self._t, plays_logged=self.plays_logged)

    def _publish(self) -> None:
        snap = self._make_snapshot()
        with self._state_lock:
            self._snapshot = snap


def _is_auto(autopilot: int, base_mode: int, custom_mode: int) -> bool:
    """Whether a HEARTBEAT says the vehicle flies its mission (ArduPilot AUTO, PX4 MISSION)."""
    if autopilot == _MAV_AUTOPILOT_ARDUPILOTMEGA:
        return int(custom_mode) == _COPTER_AUTO
    if autopilot == _MAV_AUTOPILOT_PX4:
        return (custom_mode >> 16) & 0xFF == 4 and (custom_mode >> 24) & 0xFF == 4
    return bool(base_mode & _MAV_MODE_FLAG_AUTO_ENABLED)


# -------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dronepatrol speaker``."""
    parser.add_argument("--connect", required=True, metavar="URL",
                        help="autopilot link, e.g. /dev/ttyAMA0,921600, udpin:0.0.0.0:14550 "
                             "or tcp:127.0.0.1:5760")
    parser.add_argument("--plan", required=True, type=Path, metavar="DIR",
                        help="plan directory with <route>.companion.json and audio/")
    parser.add_argument("--route", metavar="NAME",
                        help="route whose companion plan to follow (needed if DIR has several)")
    parser.add_argument("--device", metavar="DEV",
                        help="audio output device (aplay -D, e.g. plughw:1,0)")
    parser.add_argument("--dry-run", action="store_true",
                        help="play nothing; log what would play")
    parser.add_argument("--volume", type=float, metavar="PCT",
                        help="volume in %% (default: the plan's volume_pct)")
    parser.add_argument("--component-id", type=int, default=DEFAULT_COMPONENT_ID, metavar="N",
                        help="MAVLink component id of the agent (default 25, MAV_COMP_ID_USER1;"
                             " use another, e.g. 191, beside the built-in simulator's speaker)")
    parser.add_argument("--sysid", type=int, metavar="N",
                        help="system id of the vehicle to follow (default: first autopilot heard)")
    parser.add_argument("--gcs", action="append", default=[], metavar="URL",
                        help="extra link where ground stations talk to the agent directly, "
                             "e.g. udpin:0.0.0.0:14600 (repeatable)")
    parser.add_argument("--log", type=Path, metavar="PATH",
                        help="play log (JSON lines; default DIR/flight/speaker-<sysid>.jsonl)")
    parser.add_argument("--link-timeout", type=float, default=DEFAULT_LINK_TIMEOUT_S,
                        metavar="S", help="stop playing after S seconds without telemetry")


def run(args: argparse.Namespace) -> int:
    """Run ``dronepatrol speaker`` until interrupted; errors raise DronePatrolError."""
    plan = CompanionPlan.load(args.plan, args.route)
    if not args.dry_run:
        plan.check_audio()
        player: Player = ProcessPlayer(device=args.device)
    else:
        player = DryRunPlayer()
    log_path = args.log
    if log_path is None:
        log_path = Path(args.plan) / "flight" / f"speaker-{args.sysid or 'agent'}.jsonl"
    try:
        agent = SpeakerAgent(plan, args.connect, player=player, log_path=log_path,
                             component_id=args.component_id, system_id=args.sysid,
                             gcs_urls=args.gcs, volume_pct=args.volume,
                             link_timeout_s=args.link_timeout)
    except DronePatrolError:
        player.close()
        raise
    print(f"dronepatrol speaker: route {plan.route}, {len(plan.messages)} message(s), "
          f"component {args.component_id}, {'dry run' if args.dry_run else 'playing'}; "
          f"log {log_path}", file=sys.stderr)

    def on_term(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        signal.signal(signal.SIGTERM, on_term)
    try:
        agent.run_forever()
    except KeyboardInterrupt:
        pass
    print(f"dronepatrol speaker: stopped; {agent.plays_logged} broadcast(s) logged",
          file=sys.stderr)
    return 0
