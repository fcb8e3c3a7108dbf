"""Broadcast planning: messages, acoustic lane spacing, schedules along routes, triggers.

Pure planning (numpy and shapely, no I/O) except :func:`render_messages`, the one function
that writes audio files. The pipeline:

1. :func:`messages_for_zones`: one :class:`Message` per patrol zone (the zone's own ``message``
   property wins over :data:`DEFAULT_MESSAGES`); identical messages share one id.
2. :func:`render_messages`: speak each message with eSpeak NG (or measure the user's WAV);
   every ``duration_s`` used afterwards is measured from the audio, never guessed.
3. :func:`acoustic_spacing`: per zone, the altitude and lane spacing at the route's cruise
   speed under which every ground point hears one complete message per pass
   (:class:`dronepatrol.acoustics.BroadcastGeometry`), with the trade-off table.
4. :func:`schedule`: along a planned route, when and where each message starts and stops.
5. Triggers, both ways: :func:`mission_triggers` (DO_SEND_SCRIPT_MESSAGE mission items for a
   Lua script on the autopilot) and :func:`companion_plan` (JSON a speaker agent on the
   companion computer follows from telemetry); :func:`broadcasts_to_json` for
   ``DIR/broadcasts.json``.

Which trigger dronepatrol uses by default
-----------------------------------------
dronepatrol writes both, and **the companion plan is the default**: the speaker agent on the
companion computer (``dronepatrol speaker``) follows MISSION_CURRENT and the vehicle's position.

* No autopilot, firmware or script change: it works with any MAVLink autopilot,
  while DO_SEND_SCRIPT_MESSAGE needs ArduPilot with scripting enabled, a Lua script, and a
  player wired to it. There is no standard MAVLink speaker message.
* The audio is played where it is stored, on the companion computer. A Lua script can only
  pass a message number on to a player.
* Zone boundaries are exact. A mission trigger fires only when a waypoint completes, so a
  switch in the middle of a leg (where a higher-priority zone overlaps the zone being swept)
  is moved to the nearer waypoint. The companion checks the zone polygons and no-fly
  polygons against the vehicle's position.
* Time-of-day windows, live commands from the ground station (play, stop, volume) and
  status reports need a process on board anyway.
* Mission triggers take one extra mission item each, and ArduCopter stores only 650
  items by default.

The mission items remain the alternative for vehicles without a companion computer. They
are derived from the same :class:`RouteBroadcasts`, so both follow the same schedule, and
they keep working if the companion loses telemetry.

Timing model
------------
Times are seconds from the start of the takeoff climb (``route.altitudes_m[0] /
climb_mps``), then the flight profile of :func:`dronepatrol.coverage.flight_time_s`:
trapezoidal speed per leg and a yaw pause at each vertex. The pause is placed at the start
of the leg that leaves the vertex. ``timing.arrive_s[-1]`` minus the climb equals
``flight_time_s(route.waypoints_xy, kinematics)``. A waypoint *completes* when the
vehicle reaches it, and ArduPilot runs the DO items that follow it at that moment, so an
event at a waypoint happens at the vehicle's arrival there.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from dronepatrol import acoustics as ac
from dronepatrol.coverage import Kinematics
from dronepatrol.errors import AcousticsError, AudioError, PlanningError
from dronepatrol.geo import LocalFrame
from dronepatrol.mission import DO_SEND_SCRIPT_MESSAGE, NAV_WAYPOINT, MissionItem, Trigger
from dronepatrol.route import Route
from dronepatrol.zones import Zone, ZoneSet

__all__ = [
    "DEFAULT_GAP_S",
    "DEFAULT_MESSAGES",
    "DEFAULT_PRIORITY",
    "BroadcastEvent",
    "Message",
    "PlayInterval",
    "RouteBroadcasts",
    "RouteTiming",
    "TimeWindow",
    "TradeoffRow",
    "ZoneAcoustics",
    "acoustic_spacing",
    "broadcasts_to_json",
    "companion_plan",
    "crossing_extent_m",
    "messages_for_zones",
    "mission_triggers",
    "render_messages",
    "route_timing",
    "schedule",
    "tradeoff_table",
    "zone_ambient_db",
]

FloatArray = NDArray[np.float64]

#: Default text per zone kind (Mandarin, spoken by eSpeak NG's ``cmn`` voice).
DEFAULT_MESSAGES: Mapping[str, str] = {
    "sealed": "正值疫情防控关键时期，请您和家人立即返回家中，足不出户。",
    "controlled": "这里是管控区，请您和家人尽快返回家中，非必要不外出，不聚集。",
    "precaution": "这里是防范区，请减少外出，外出请佩戴口罩，保持一米距离。",
}
#: Default priority per zone kind: where zones overlap the higher one is played.
DEFAULT_PRIORITY: Mapping[str, int] = {"sealed": 30, "controlled": 20, "precaution": 10}
#: Silence between two plays of a looped message, seconds (one breath for the listener).
DEFAULT_GAP_S = 1.0
#: Zone properties read by :func:`messages_for_zones` besides ``message``.
MESSAGE_PROPERTIES = (
    "message_language", "message_audio", "message_priority", "message_repeat", "message_window",
    "message_gap_s",
)

_EPS_T = 1e-9


# --------------------------------------------------------------------------------- messages


@dataclass(frozen=True, kw_only=True)
class TimeWindow:
    """A time-of-day window, local time; ``end`` before ``start`` wraps past midnight.

    >>> w = TimeWindow.parse("21:00-07:00")
    >>> w.contains_s(23 * 3600), w.contains_s(12 * 3600)
    (True, False)
    """

    start: _dt.time
    end: _dt.time

    def __post_init__(self) -> None:
        if not isinstance(self.start, _dt.time) or not isinstance(self.end, _dt.time):
            raise AcousticsError(
                f"TimeWindow: start and end must be datetime.time, got {self.start!r}, {self.end!r}"
            )
        if self.start == self.end:
            raise AcousticsError(
                f"TimeWindow: start == end ({self.start}) is an empty window; "
                "leave the window unset for 'always'"
            )

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """``"HH:MM-HH:MM"`` (or with seconds) to a window."""
        try:
            a, b = str(text).split("-")
            start, end = _dt.time.fromisoformat(a.strip()), _dt.time.fromisoformat(b.strip())
            return cls(start=start, end=end)
        except ValueError:
            raise AcousticsError(
                f"time window {text!r} is not 'HH:MM-HH:MM' (for example '07:00-21:00')"
            ) from None

    @property
    def start_s(self) -> float:
        """Start, seconds since midnight."""
        return _tod_s(self.start)

    @property
    def end_s(self) -> float:
        """End, seconds since midnight."""
        return _tod_s(self.end)

    def contains_s(self, seconds_of_day: float) -> bool:
        """Whether a time (seconds since midnight, any day) lies in the window."""
        t = float(seconds_of_day) % 86400.0
        a, b = self.start_s, self.end_s
        return a <= t < b if a < b else (t >= a or t < b)

    def __str__(self) -> str:
        return f"{self.start.isoformat('minutes')}-{self.end.isoformat('minutes')}"


def _tod_s(t: _dt.time) -> float:
    return t.hour * 3600.0 + t.minute * 60.0 + t.second + t.microsecond * 1e-6


@dataclass(frozen=True, kw_only=True)
class Message:
    """One spoken message.

    ``id`` is the uint16 number sent in DO_SEND_SCRIPT_MESSAGE param1 (1..65535; 0 means
    stop). ``audio_path`` is a user's WAV recording that is played instead of speaking
    ``text``. ``priority`` decides which message plays where zones overlap (higher wins).
    ``repeat`` is 0 to loop while over the zone, or n to play n times on each entry.
    ``window`` limits broadcasting to a time of day (None: always). ``duration_s`` is
    measured by :func:`render_messages` (None until rendered). ``gap_s`` is the silence
    between plays, so one play lasts :attr:`period_s` = ``duration_s + gap_s``.
    """

    id: int
    text: str
    language: str = "cmn"
    audio_path: Path | None = None
    priority: int = 0
    repeat: int = 0
    window: TimeWindow | None = None
    duration_s: float | None = None
    gap_s: float = DEFAULT_GAP_S

    def __post_init__(self) -> None:
        where = f"message {self.id!r}"
        if isinstance(self.id, bool) or not isinstance(self.id, int) or not 1 <= self.id <= 65535:
            raise AcousticsError(
                f"{where}: id must be an integer in 1..65535 (0 means stop), got {self.id!r}"
            )
        if not isinstance(self.text, str):
            raise AudioError(f"{where}: text must be a string, got {type(self.text).__name__}")
        if not self.text.strip() and self.audio_path is None:
            raise AudioError(
                f"{where}: the message is empty (text={self.text!r}, no audio file); "
                "give the text to speak or a WAV recording"
            )
        if not isinstance(self.language, str) or not self.language.strip():
            raise AudioError(f"{where}: language={self.language!r} is empty; give e.g. 'cmn'")
        if self.audio_path is not None and not isinstance(self.audio_path, Path):
            object.__setattr__(self, "audio_path", Path(self.audio_path))
        for name in ("priority", "repeat"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise AcousticsError(f"{where}: {name} must be an integer, got {v!r}")
        if not 0 <= self.repeat <= 255:
            raise AcousticsError(
                f"{where}: repeat={self.repeat} must be in 0..255 (0 = loop over the zone)"
            )
        if self.window is not None and not isinstance(self.window, TimeWindow):
            raise AcousticsError(f"{where}: window must be a TimeWindow or None")
        if self.duration_s is not None and not (
            math.isfinite(self.duration_s) and self.duration_s > 0
        ):
            raise AudioError(f"{where}: duration_s={self.duration_s!r} must be > 0 seconds")
        if not (math.isfinite(self.gap_s) and 0.0 <= self.gap_s <= 60.0):
            raise AcousticsError(f"{where}: gap_s={self.gap_s!r} must be in [0, 60] seconds")

    @property
    def period_s(self) -> float:
        """One play including the gap: ``duration_s + gap_s``; needs a rendered message."""
        if self.duration_s is None:
            raise AcousticsError(
                f"message {self.id}: duration unknown; render it first with render_messages()"
            )
        return self.duration_s + self.gap_s

    def _key(self) -> tuple[object, ...]:
        return (self.text, self.language.lower(), self.audio_path, self.priority, self.repeat,
                str(self.window), self.gap_s)


def _zone_message_spec(z: Zone) -> dict[str, Any]:
    props = z.properties
    kind = z.kind.value
    where = f"zone {z.name!r}"
    spec: dict[str, Any] = {}
    raw = props.get("message", z.message)
    if raw is None:
        raw = DEFAULT_MESSAGES.get(kind)
        if raw is None:
            raise AcousticsError(f"{where}: no default message for kind {kind!r}")
    if not isinstance(raw, str):
        raise AudioError(f"{where}: message must be text, got {raw!r}")
    spec["text"] = raw
    spec["language"] = str(props.get("message_language") or "cmn")
    audio = props.get("message_audio")
    spec["audio_path"] = Path(str(audio)) if audio else None
    spec["priority"] = DEFAULT_PRIORITY.get(kind, 0)
    for key, name in (("message_priority", "priority"), ("message_repeat", "repeat")):
        if key in props and props[key] is not None:
            v = props[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
                raise AcousticsError(f"{where}: {key}={v!r} must be an integer")
            spec[name] = int(v)
    if props.get("message_window"):
        try:
            spec["window"] = TimeWindow.parse(str(props["message_window"]))
        except AcousticsError as exc:
            raise AcousticsError(f"{where}: {exc}") from None
    if props.get("message_gap_s") is not None:
        spec["gap_s"] = float(props["message_gap_s"])
    return spec


def messages_for_zones(zoneset: ZoneSet) -> dict[str, Message]:
    """One message per patrol zone (by zone name); identical messages share one id.

    The zone's ``message`` property wins over :data:`DEFAULT_MESSAGES` for its kind; the
    optional properties :data:`MESSAGE_PROPERTIES` (``message_language``, ``message_audio``
    a WAV path, ``message_priority``, ``message_repeat``, ``message_window`` "HH:MM-HH:MM",
    ``message_gap_s``) set the rest. Ids are 1, 2, ... in zone order. An empty message
    raises :class:`AudioError` naming the zone.
    """
    out: dict[str, Message] = {}
    ids: dict[tuple[object, ...], int] = {}
    for z in zoneset.patrol_zones:
        spec = _zone_message_spec(z)
        try:
            probe = Message(id=1, **spec)
        except (AudioError, AcousticsError) as exc:
            raise type(exc)(f"zone {z.name!r}: {exc}") from None
        key = probe._key()
        if key not in ids:
            ids[key] = len(ids) + 1
        out[z.name] = dataclasses.replace(probe, id=ids[key])
    return out


def _zones_by_message(messages: Mapping[str, Message]) -> dict[int, list[str]]:
    by: dict[int, list[str]] = {}
    for zone, m in messages.items():
        by.setdefault(m.id, []).append(zone)
    return by


def render_messages(
    messages: Mapping[str, Message], out_dir: str | Path, *, rate_wpm: int | None = None
) -> dict[str, Message]:
    """Render every distinct message to ``out_dir/message-<id>.wav`` and measure it.

    The only function here that does I/O. Text is spoken by :func:`dronepatrol.audio.synthesize`
    (offline eSpeak NG); a message with ``audio_path`` is measured with
    :func:`dronepatrol.audio.read_clip` and played as is. Returns the same mapping with
    ``duration_s`` set from the audio (and ``audio_path`` pointing at the file to play).
    Errors (unknown language, unreadable WAV) name the zones and the message.
    """
    from dronepatrol import audio

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AudioError(f"cannot create audio directory {out}: {exc}") from None
    zones_of = _zones_by_message(messages)
    done: dict[int, Message] = {}
    result: dict[str, Message] = {}
    for zone, m in messages.items():
        if m.id not in done:
            where = f"message {m.id} of zone(s) {', '.join(zones_of[m.id])}"
            try:
                if m.audio_path is not None:
                    clip = audio.read_clip(m.audio_path)
                else:
                    clip = audio.synthesize(m.text, language=m.language,
                                            out_path=out / f"message-{m.id}.wav",
                                            rate_wpm=rate_wpm)
            except AudioError as exc:
                raise AudioError(f"{where}: {exc}") from None
            done[m.id] = dataclasses.replace(m, duration_s=clip.duration_s, audio_path=clip.path)
        else:
            other = done[m.id]
            if m._key() != dataclasses.replace(other, audio_path=m.audio_path)._key():
                raise AcousticsError(
                    f"message id {m.id} is used by different messages (zone {zone}); "
                    "give each distinct message its own id"
                )
        result[zone] = done[m.id]
    return result


# -------------------------------------------------------------------------- acoustic spacing


@dataclass(frozen=True, kw_only=True)
class TradeoffRow:
    """One candidate (altitude, speed) of a zone's broadcast trade-off table."""

    altitude_m: float
    speed_mps: float
    radius_m: float
    spacing_m: float
    sweep_time_s_per_km2: float
    relative_time: float
    """Straight-lane flight time per area relative to the chosen row (1.0 = chosen)."""
    chosen: bool
    """The row used by the plan (at the route's cruise speed)."""
    fastest: bool
    """The row with the least flight time over all candidate speeds."""


@dataclass(frozen=True, kw_only=True)
class ZoneAcoustics:
    """Altitude and lane spacing chosen for one zone, with the trade-off table."""

    zone: str
    message_id: int
    ambient_db: float
    required_snr_db: float
    message_period_s: float
    speed_mps: float
    altitude_m: float
    radius_m: float
    half_width_m: float
    spacing_m: float
    extent_m: float
    """The zone's crossing extent (see :func:`crossing_extent_m`)."""
    fastest_speed_mps: float
    fastest_altitude_m: float
    rows: tuple[TradeoffRow, ...]

    @property
    def geometry(self) -> ac.BroadcastGeometry:
        """The chosen :class:`~dronepatrol.acoustics.BroadcastGeometry`."""
        return ac.BroadcastGeometry(altitude_m=self.altitude_m, speed_mps=self.speed_mps,
                                    message_period_s=self.message_period_s,
                                    radius_m=self.radius_m)


def crossing_extent_m(area: Polygon | MultiPolygon) -> float:
    """Length of the longest side of the minimum rotated rectangle around ``area`` (metres).

    This is the longest straight pass a sweep in any direction can make over the zone. A
    message can be *guaranteed* to be heard whole on one pass only if the loudspeaker
    plays over the zone for at least two periods (see
    :class:`~dronepatrol.acoustics.BroadcastGeometry`: the worst-phase listener waits up to
    one period and then needs one more). It is silent outside the zone. So
    :func:`acoustic_spacing` requires ``extent_m / speed_mps >= 2 * period_s``.
    """
    rect = shapely.minimum_rotated_rectangle(area)
    if not isinstance(rect, Polygon):
        return float(shapely.length(rect)) if not rect.is_empty else 0.0
    c = np.asarray(rect.exterior.coords)
    sides = np.hypot(*np.diff(c, axis=0).T)
    return float(sides.max())


def _coverable_local(zoneset: ZoneSet, frame: LocalFrame) -> dict[str, BaseGeometry]:
    no_fly = [frame.geometry_to_local(z.geometry) for z in zoneset.no_fly_zones]
    nf = shapely.union_all(no_fly) if no_fly else Polygon()
    out = {}
    for z in zoneset.patrol_zones:
        g = frame.geometry_to_local(z.geometry)
        out[z.name] = g.difference(nf) if not nf.is_empty else g
    return out


def zone_ambient_db(zone: Zone) -> float:
    """The zone's design ambient noise: property ``ambient_db`` or the default for its kind."""
    v = zone.properties.get("ambient_db")
    if v is None:
        return ac.ambient_db_for_zone(zone.kind.value)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 <= float(v) <= 140):
        raise AcousticsError(
            f"zone {zone.name!r}: ambient_db={v!r} must be a number of dB(A) in [0, 140]"
        )
    return float(v)


def acoustic_spacing(
    zoneset: ZoneSet,
    messages: Mapping[str, Message],
    speaker: ac.Speaker,
    atmosphere: ac.Atmosphere,
    *,
    speed_mps: float,
    min_altitude_m: float,
    max_altitude_m: float,
    required_snr_db: float = ac.DEFAULT_REQUIRED_SNR_DB,
    frame: LocalFrame | None = None,
    speeds_mps: Sequence[float] | None = None,
) -> dict[str, ZoneAcoustics]:
    """Per zone with a message: altitude and lane spacing that keep the hearing guarantee.

    The route flies at one cruise speed (``PlanOptions.speed_mps``), so the chosen row is
    the widest lane spacing at ``speed_mps`` (ties: lower altitude) among altitudes every
    5 m in ``[min_altitude_m, max_altitude_m]``. The table also covers ``speeds_mps``
    (default 1-15 m/s) and marks the row that would be fastest overall. Use the results as
    ``plan_patrol(..., spacing_by_zone={z: a.spacing_m}, altitude_by_zone={z: a.altitude_m})``.

    The ambient noise is the zone's ``ambient_db`` property or the default for its kind.
    Raises :class:`AcousticsError` naming the zone, the message and the numbers when the
    speaker is too quiet within the altitude limits, when the message is too long to be heard
    whole at ``speed_mps``, or when the zone is too short to be crossed in two periods
    (:func:`crossing_extent_m`).
    """
    if not (isinstance(speed_mps, (int, float)) and math.isfinite(speed_mps) and speed_mps > 0):
        raise AcousticsError(f"acoustic_spacing: speed_mps={speed_mps!r} must be > 0")
    frame = frame or LocalFrame.for_geometries([z.geometry for z in zoneset.zones])
    coverable = _coverable_local(zoneset, frame)
    speeds = sorted({*(speeds_mps or (1, 2, 3, 4, 5, 6, 8, 10, 12, 15)), float(speed_mps)})
    out: dict[str, ZoneAcoustics] = {}
    for z in zoneset.patrol_zones:
        m = messages.get(z.name)
        if m is None:
            continue
        where = f"zone {z.name!r}, message {m.id}"
        if m.duration_s is None:
            raise AcousticsError(f"{where}: duration unknown; render it with render_messages()")
        ambient = zone_ambient_db(z)
        period = m.period_s
        try:
            plan = ac.plan_broadcast(
                speaker, atmosphere, ambient_db=ambient, message_duration_s=m.duration_s,
                min_altitude_m=min_altitude_m, max_altitude_m=max_altitude_m,
                required_snr_db=required_snr_db, speeds_mps=speeds, gap_s=m.gap_s,
            )
        except AcousticsError as exc:
            raise AcousticsError(
                f"{where} ({m.duration_s:.1f} s, ambient {ambient:g} dB): {exc}"
            ) from None
        at_speed = [g for g in plan.rows if abs(g.speed_mps - speed_mps) < 1e-9]
        if not at_speed:
            r_best = max(g.radius_m for g in plan.rows)
            raise AcousticsError(
                f"{where}: the message lasts {m.duration_s:.1f} s (+{m.gap_s:g} s gap = "
                f"{period:.1f} s) and cannot be heard whole at the cruise speed "
                f"{speed_mps:g} m/s: the listener must stay within the intelligible radius "
                f"(at most {r_best:.0f} m "
                f"within [{min_altitude_m:g}, {max_altitude_m:g}] m) for speed x period = "
                f"{speed_mps * period:.0f} m on each side. Fly slower than "
                f"{r_best / period:.1f} m/s or shorten the message below "
                f"{r_best / speed_mps - m.gap_s:.1f} s"
            )
        chosen = max(at_speed, key=lambda g: (g.lane_spacing_m, -g.altitude_m))
        extent = crossing_extent_m(coverable[z.name])
        if extent / speed_mps < 2.0 * period:
            raise AcousticsError(
                f"{where}: the message is longer than the zone can be crossed in: its longest "
                f"pass is {extent:.0f} m, {extent / speed_mps:.1f} s at {speed_mps:g} m/s, but "
                f"a guaranteed complete hearing needs 2 x {period:.1f} s = {2 * period:.1f} s "
                f"of broadcast over the zone. Shorten the message below "
                f"{extent / speed_mps / 2 - m.gap_s:.1f} s or fly slower than "
                f"{extent / (2 * period):.1f} m/s"
            )
        t_chosen = chosen.sweep_time_s_per_km2
        rows = tuple(
            TradeoffRow(
                altitude_m=g.altitude_m, speed_mps=g.speed_mps, radius_m=g.radius_m,
                spacing_m=g.lane_spacing_m, sweep_time_s_per_km2=g.sweep_time_s_per_km2,
                relative_time=g.sweep_time_s_per_km2 / t_chosen, chosen=g == chosen,
                fastest=g == plan.best,
            )
            for g in plan.rows
        )
        out[z.name] = ZoneAcoustics(
            zone=z.name, message_id=m.id, ambient_db=ambient, required_snr_db=required_snr_db,
            message_period_s=period, speed_mps=float(speed_mps), altitude_m=chosen.altitude_m,
            radius_m=chosen.radius_m, half_width_m=chosen.half_width_m,
            spacing_m=chosen.lane_spacing_m, extent_m=extent,
            fastest_speed_mps=plan.best.speed_mps, fastest_altitude_m=plan.best.altitude_m,
            rows=rows,
        )
    return out


def tradeoff_table(za: ZoneAcoustics, *, max_rows: int | None = None) -> str:
    """The trade-off table as text: altitude, radius, spacing, speed, relative flight time.

    ``*`` marks the chosen row (the route's cruise speed), ``F`` the fastest overall.
    """
    head = (f"zone {za.zone}: message {za.message_id}, period {za.message_period_s:.1f} s, "
            f"ambient {za.ambient_db:g} dB(A), margin +{za.required_snr_db:g} dB; chosen "
            f"{za.altitude_m:g} m at {za.speed_mps:g} m/s -> spacing {za.spacing_m:.0f} m; "
            f"fastest would be {za.fastest_altitude_m:g} m at {za.fastest_speed_mps:g} m/s")
    lines = [head, "  alt_m  radius_m  spacing_m  speed_mps  rel_time"]
    rows = sorted(za.rows, key=lambda r: r.relative_time)
    if max_rows is not None:
        keep = rows[:max_rows]
        keep += [r for r in rows[max_rows:] if r.chosen]
        rows = keep
    for r in rows:
        mark = ("*" if r.chosen else " ") + ("F" if r.fastest else " ")
        lines.append(f"{mark}{r.altitude_m:5.0f} {r.radius_m:9.0f} {r.spacing_m:10.0f} "
                     f"{r.speed_mps:10g} {r.relative_time:9.2f}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ route timing


@dataclass(frozen=True, eq=False)
class RouteTiming:
    """The flight profile of a route: when the vehicle is where.

    ``arrive_s[i]`` is when waypoint i is reached (for waypoint 0: the end of the takeoff
    climb) and ``depart_s[i]`` when it sets off again after the yaw pause. Build with
    :func:`route_timing`.
    """

    waypoints_xy: FloatArray
    altitudes_m: FloatArray
    arrive_s: FloatArray
    depart_s: FloatArray
    leg_length_m: FloatArray
    # per leg: entry speed, exit speed, cruise speed, accel / cruise / decel durations
    _u: FloatArray
    _w: FloatArray
    _vmax: FloatArray
    _t1: FloatArray
    _t2: FloatArray
    _accel: float
    climb_s: float

    @property
    def end_s(self) -> float:
        """Arrival at the last waypoint."""
        return float(self.arrive_s[-1])

    def _leg_distance(self, leg: NDArray[np.int64], tau: FloatArray) -> FloatArray:
        u, w, vm = self._u[leg], self._w[leg], self._vmax[leg]
        t1, t2, a = self._t1[leg], self._t2[leg], self._accel
        s1 = u * t1 + 0.5 * a * t1 * t1
        tau = np.maximum(tau, 0.0)
        d_acc = u * tau + 0.5 * a * tau * tau
        d_cru = s1 + vm * (tau - t1)
        tp = tau - t1 - t2
        d_dec = s1 + vm * t2 + vm * tp - 0.5 * a * tp * tp
        d = np.where(tau < t1, d_acc, np.where(tau < t1 + t2, d_cru, d_dec))
        del w
        return np.clip(d, 0.0, self.leg_length_m[leg])

    def position_at(
        self, t_s: float | Sequence[float] | FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Positions (N, 2) in metres and altitudes (N,) at times ``t_s`` (clamped to the flight).

        Before the climb ends the vehicle is over waypoint 0, rising from the ground.
        """
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        n_legs = len(self.leg_length_m)
        xy = np.empty((len(t), 2))
        alt = np.empty(len(t))
        if n_legs == 0:
            xy[:] = self.waypoints_xy[0]
            alt[:] = self.altitudes_m[0]
            return xy, alt
        leg = np.clip(np.searchsorted(self.arrive_s, t, side="right") - 1, 0, n_legs - 1)
        tau = t - self.depart_s[leg]
        d = self._leg_distance(leg, tau)
        length = self.leg_length_m[leg]
        frac = np.divide(d, length, out=np.zeros_like(d), where=length > 0)
        p0, p1 = self.waypoints_xy[leg], self.waypoints_xy[leg + 1]
        xy = p0 + frac[:, None] * (p1 - p0)
        alt = self.altitudes_m[leg] + frac * (self.altitudes_m[leg + 1] - self.altitudes_m[leg])
        before = t < self.arrive_s[0]
        if before.any():
            xy[before] = self.waypoints_xy[0]
            alt[before] = self.altitudes_m[0] * np.clip(t[before] / max(self.climb_s, _EPS_T),
                                                        0.0, 1.0)
        after = t >= self.arrive_s[-1]
        xy[after] = self.waypoints_xy[-1]
        alt[after] = self.altitudes_m[-1]
        return xy, alt

    def time_at(self, leg: int, fraction: float) -> float:
        """When the vehicle is ``fraction`` (0..1) of the way along leg ``leg``."""
        if fraction <= 0.0:
            return float(self.arrive_s[leg])
        if fraction >= 1.0:
            return float(self.arrive_s[leg + 1])
        target = fraction * float(self.leg_length_m[leg])
        lo, hi = 0.0, float(self.arrive_s[leg + 1] - self.depart_s[leg])
        idx = np.array([leg])
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if float(self._leg_distance(idx, np.array([mid]))[0]) < target:
                lo = mid
            else:
                hi = mid
        return float(self.depart_s[leg]) + 0.5 * (lo + hi)


def route_timing(route: Route, kinematics: Kinematics, *, climb_mps: float = 2.5) -> RouteTiming:
    """The route's flight profile, the same model as :func:`dronepatrol.coverage.flight_time_s`.

    >>> import numpy as np
    >>> from dronepatrol.route import Route
    >>> r = Route(name="r", waypoints_xy=np.array([[0.0, 0], [100, 0]]),
    ...           altitudes_m=np.array([10.0, 10.0]), leg_kinds=("transit",),
    ...           leg_zones=(None,), zones=(), start_base="b", end_base="b",
    ...           speed_mps=8.0, length_m=100.0, duration_s=0.0)
    >>> t = route_timing(r, Kinematics(speed_mps=8.0))
    >>> float(t.arrive_s[0]), float(t.arrive_s[1])   # 4 s climb, then 16.5 s
    (4.0, 20.5)
    """
    if not (math.isfinite(climb_mps) and climb_mps > 0):
        raise PlanningError(f"route_timing: climb_mps={climb_mps!r} must be > 0")
    xy = np.asarray(route.waypoints_xy, dtype=float)
    n = len(xy)
    climb = float(route.altitudes_m[0]) / climb_mps
    v, a = float(kinematics.speed_mps), float(kinematics.accel_mps2)
    if n < 2:
        z = np.zeros(0)
        return RouteTiming(xy, np.asarray(route.altitudes_m, float), np.array([climb]),
                           np.array([climb]), z, z, z, z, z, z, a, climb)
    d = np.diff(xy, axis=0)
    length = np.hypot(d[:, 0], d[:, 1])
    moving = length > 1e-9
    # unit vectors of the moving legs; a zero-length leg is skipped when measuring turns
    unit = np.zeros_like(d)
    unit[moving] = d[moving] / length[moving, None]
    mv = np.flatnonzero(moving)
    vlim = np.zeros(n)  # speed limit at each vertex
    turn = np.zeros(n)  # yaw pause at each vertex
    for j in range(len(mv) - 1):
        i_in, i_out = mv[j], mv[j + 1]
        cos_t = float(np.clip(unit[i_in] @ unit[i_out], -1.0, 1.0))
        # vertices i_in + 1 .. i_out are one point (zero-length legs between them)
        vlim[i_in + 1:i_out + 1] = v * (1.0 + cos_t) / 2.0
        theta = math.acos(cos_t)
        turn[i_out] = theta / math.radians(kinematics.turn_rate_dps) * (1.0 - cos_t) / 2.0
    lim = vlim.tolist()
    two_a_len = (2.0 * a * length).tolist()
    for i in range(1, n):
        reach = math.sqrt(lim[i - 1] ** 2 + two_a_len[i - 1])
        if reach < lim[i]:
            lim[i] = reach
    for i in range(n - 2, -1, -1):
        reach = math.sqrt(lim[i + 1] ** 2 + two_a_len[i])
        if reach < lim[i]:
            lim[i] = reach
    vv = np.asarray(lim)
    u, w = vv[:-1], vv[1:]
    peak = np.sqrt((2.0 * a * length + u * u + w * w) / 2.0)
    vmax = np.minimum(peak, v)
    t1 = (vmax - u) / a
    t3 = (vmax - w) / a
    cruise = length - (vmax * vmax - u * u) / (2 * a) - (vmax * vmax - w * w) / (2 * a)
    t2 = np.divide(np.maximum(cruise, 0.0), vmax, out=np.zeros_like(cruise), where=vmax > 0)
    leg_t = np.where(moving, t1 + t2 + t3, 0.0)
    arrive = np.empty(n)
    depart = np.empty(n)
    arrive[0] = climb
    for i in range(n - 1):
        depart[i] = arrive[i] + turn[i]
        arrive[i + 1] = depart[i] + leg_t[i]
    depart[-1] = arrive[-1]
    return RouteTiming(xy, np.asarray(route.altitudes_m, dtype=float), arrive, depart, length,
                       u, w, vmax, t1, t2, a, climb)


# ---------------------------------------------------------------------------------- schedule


@dataclass(frozen=True, kw_only=True)
class BroadcastEvent:
    """A change of what the loudspeaker plays: start ``message_id`` (replacing any), or stop (0).

    The event lies on leg ``waypoint_index`` (from waypoint ``waypoint_index`` to the next),
    ``leg_fraction`` of the way along it; 0 means at the waypoint itself.
    """

    t_s: float
    waypoint_index: int
    leg_fraction: float
    x_m: float
    y_m: float
    alt_m: float
    message_id: int
    zone: str | None


@dataclass(frozen=True, kw_only=True)
class PlayInterval:
    """One message looping (or repeating ``repeat`` times) from ``start_s`` to ``end_s``."""

    start_s: float
    end_s: float
    message_id: int
    zone: str
    start_leg: int
    start_fraction: float
    end_leg: int
    end_fraction: float


@dataclass(frozen=True, eq=False)
class RouteBroadcasts:
    """What the loudspeaker does along one route: events and the intervals they delimit."""

    route: str
    events: tuple[BroadcastEvent, ...]
    intervals: tuple[PlayInterval, ...]
    timing: RouteTiming

    @property
    def on_air_s(self) -> float:
        """Total time a message is playing."""
        return float(sum(i.end_s - i.start_s for i in self.intervals))


@dataclass
class _Seg:
    leg: int
    f0: float
    f1: float
    t0: float
    t1: float
    candidates: list[tuple[int, str]]  # (message_id, zone), best first; [] = silent


def _split_fractions(leg_line: LineString, geoms: Sequence[BaseGeometry]) -> list[float]:
    cuts = {0.0, 1.0}
    for g in geoms:
        if g.is_empty or not leg_line.intersects(g):
            continue
        inter = leg_line.intersection(g.boundary)
        for p in shapely.get_coordinates(inter):
            cuts.add(float(leg_line.project(Point(p), normalized=True)))
    return sorted(c for c in cuts if 0.0 <= c <= 1.0)


def schedule(
    route: Route,
    messages_by_zone: Mapping[str, Message],
    kinematics: Kinematics,
    *,
    zones_xy: Mapping[str, Polygon | MultiPolygon] | None = None,
    no_fly_xy: Sequence[Polygon | MultiPolygon] = (),
    takeoff_time_of_day_s: float | None = None,
    climb_mps: float = 2.5,
) -> RouteBroadcasts:
    """When and where each message starts and stops along ``route``.

    Rules: a message loops while the vehicle flies the sweep/connect/perimeter legs of its
    zone; transit legs are silent; with ``no_fly_xy`` (local polygons) any part of a leg
    over a no-fly area is silent. With ``zones_xy`` (local polygons by zone name), a leg is
    split where it crosses zone boundaries. Each piece plays the highest-priority message of
    the zones that contain it, always counting the zone the leg belongs to (ties: that zone,
    then name). Playback never overlaps: each event replaces what was playing. With
    ``takeoff_time_of_day_s``, messages with a time window are silent outside it, and the
    next candidate plays instead. A message with ``repeat = n > 0`` plays n times per entry,
    then falls silent.
    """
    timing = route_timing(route, kinematics, climb_mps=climb_mps)
    xy = timing.waypoints_xy
    zones_xy = dict(zones_xy or {})
    zone_geoms = {z: g for z, g in zones_xy.items() if z in messages_by_zone}
    for g in list(zone_geoms.values()) + list(no_fly_xy):
        shapely.prepare(g)
    segs: list[_Seg] = []
    for k, (kind, zone) in enumerate(zip(route.leg_kinds, route.leg_zones, strict=True)):
        t0, t1 = float(timing.arrive_s[k]), float(timing.arrive_s[k + 1])
        if kind == "transit" or zone is None or zone not in messages_by_zone:
            segs.append(_Seg(k, 0.0, 1.0, t0, t1, []))
            continue
        line = LineString(xy[k:k + 2])
        if timing.leg_length_m[k] <= 1e-9:
            fracs = [0.0, 1.0]
        else:
            fracs = _split_fractions(line, [*zone_geoms.values(), *no_fly_xy])
        for f0, f1 in zip(fracs[:-1], fracs[1:], strict=True):
            if f1 - f0 < 1e-12:
                continue
            mid = line.interpolate(0.5 * (f0 + f1), normalized=True)
            if any(g.contains(mid) for g in no_fly_xy):
                cands: list[tuple[int, str]] = []
            else:
                names = {zone} | {z for z, g in zone_geoms.items() if g.contains(mid)}
                ranked = sorted(names, key=lambda z: (-messages_by_zone[z].priority, z != zone, z))
                cands = [(messages_by_zone[z].id, z) for z in ranked]
            ta = timing.time_at(k, f0) if f0 > 0 else t0
            tb = timing.time_at(k, f1) if f1 < 1 else t1
            segs.append(_Seg(k, f0, f1, ta, tb, cands))
    if takeoff_time_of_day_s is not None:
        segs = _apply_windows(segs, messages_by_zone, float(takeoff_time_of_day_s), timing)
    # merge consecutive pieces playing the same message
    runs: list[list[Any]] = []  # [message_id, zone, seg_first, seg_last]
    for s in segs:
        mid_, zone_ = s.candidates[0] if s.candidates else (0, None)
        if runs and runs[-1][0] == mid_:  # same message: keep playing across the boundary
            runs[-1][3] = s
        else:
            runs.append([mid_, zone_, s, s])
    by_id = {m.id: m for m in messages_by_zone.values()}
    intervals: list[PlayInterval] = []
    events: list[BroadcastEvent] = []

    def event(t: float, leg: int, frac: float, mid_: int, zone_: str | None) -> None:
        if frac >= 1.0 - 1e-12 and leg + 1 < len(xy):
            leg, frac = leg + 1, 0.0
        p, alt = timing.position_at([t])
        events.append(BroadcastEvent(t_s=t, waypoint_index=leg, leg_fraction=frac,
                                     x_m=float(p[0, 0]), y_m=float(p[0, 1]), alt_m=float(alt[0]),
                                     message_id=mid_, zone=zone_))

    playing = 0
    for mid_, zone_, first, last in runs:
        if mid_ == 0:
            if playing:
                event(first.t0, first.leg, first.f0, 0, None)
                playing = 0
            continue
        msg = by_id[mid_]
        end_t, end_leg, end_f = last.t1, last.leg, last.f1
        if msg.repeat > 0 and msg.duration_s is not None:
            limit = first.t0 + msg.repeat * msg.period_s
            if limit < end_t:
                end_t = limit
                end_leg, end_f = _locate(timing, limit)
        event(first.t0, first.leg, first.f0, mid_, zone_)
        playing = mid_
        intervals.append(PlayInterval(start_s=first.t0, end_s=end_t, message_id=mid_, zone=zone_,
                                      start_leg=first.leg, start_fraction=first.f0,
                                      end_leg=end_leg, end_fraction=end_f))
        if end_t < last.t1:  # a repeat-limited message ran out: silent until the next change
            event(end_t, end_leg, end_f, 0, None)
            playing = 0
    if playing:
        event(float(timing.arrive_s[-1]), len(xy) - 2, 1.0, 0, None)
    return RouteBroadcasts(route=route.name, events=tuple(events), intervals=tuple(intervals),
                           timing=timing)


def _locate(timing: RouteTiming, t: float) -> tuple[int, float]:
    """(leg, fraction) of the vehicle at time ``t``."""
    n_legs = len(timing.leg_length_m)
    leg = int(np.clip(np.searchsorted(timing.arrive_s, t, side="right") - 1, 0, n_legs - 1))
    length = float(timing.leg_length_m[leg])
    if length <= 0:
        return leg, 0.0
    d = float(timing._leg_distance(np.array([leg]), np.array([t - timing.depart_s[leg]]))[0])
    return leg, min(max(d / length, 0.0), 1.0)


def _in_window(window: TimeWindow | None, seconds_of_day: float) -> bool:
    return window is None or window.contains_s(seconds_of_day)


def _apply_windows(
    segs: list[_Seg], messages: Mapping[str, Message], tod0: float, timing: RouteTiming
) -> list[_Seg]:
    """Split pieces at window edges; drop candidates whose window excludes the piece."""
    by_id = {m.id: m for m in messages.values()}
    out: list[_Seg] = []
    for s in segs:
        cuts = {s.t0, s.t1}
        for mid_, _ in s.candidates:
            w = by_id[mid_].window
            if w is None:
                continue
            for edge in (w.start_s, w.end_s):
                # absolute times (since takeoff) at which the clock shows ``edge``
                first = edge - tod0 + 86400.0 * math.floor((tod0 + s.t0 - edge) / 86400.0 + 1)
                t = first
                while t < s.t1:
                    if t > s.t0:
                        cuts.add(t)
                    t += 86400.0
        times = sorted(cuts)
        for ta, tb in zip(times[:-1], times[1:], strict=True):
            if tb - ta <= _EPS_T and len(times) > 2:
                continue
            tm = 0.5 * (ta + tb)
            cands = [c for c in s.candidates if _in_window(by_id[c[0]].window, tod0 + tm)]
            _, fa = _locate(timing, ta) if ta > s.t0 else (s.leg, s.f0)
            _, fb = _locate(timing, tb) if tb < s.t1 else (s.leg, s.f1)
            out.append(_Seg(s.leg, fa, fb, ta, tb, cands))
    return out


# ----------------------------------------------------------------------------------- triggers


def mission_triggers(
    route: Route,
    broadcasts: RouteBroadcasts,
    messages_by_zone: Mapping[str, Message],
    *,
    volume_pct: float = 100.0,
) -> list[Trigger]:
    """DO_SEND_SCRIPT_MESSAGE triggers for :func:`dronepatrol.mission.route_mission`.

    ``param1`` = message id (0 = stop), ``param2`` = volume %, ``param3`` = the message's
    ``repeat`` (0 = loop until the next trigger), ``param4`` = the play period in seconds
    (duration + gap; the simulator loops plays of this length).

    Waypoint numbering follows :func:`dronepatrol.output.route_items`: route waypoint 0 is
    the base where the takeoff climbs, and route waypoint ``i >= 1`` is mission waypoint
    ``i - 1``. A trigger with ``before_waypoint = i`` fires when the vehicle completes route
    waypoint ``i`` (or the takeoff for ``i = 0``) and sets off along leg ``i``. So an event
    at route waypoint ``i`` becomes ``before_waypoint = i``. An event in the middle of
    a leg (zone overlap, time window) moves to the nearer end of the leg. When several
    events land on one waypoint only the last counts, and triggers that would not change
    what is playing are dropped.
    """
    if not (math.isfinite(volume_pct) and 0 < volume_pct <= 100):
        raise AcousticsError(f"mission_triggers: volume_pct={volume_pct!r} must be in (0, 100]")
    by_id = {m.id: m for m in messages_by_zone.values()}
    n_wp = len(route.waypoints_xy)
    at: dict[int, int] = {}
    for e in broadcasts.events:
        idx = e.waypoint_index + (1 if e.leg_fraction >= 0.5 else 0)
        at[min(idx, n_wp - 1)] = e.message_id
    out: list[Trigger] = []
    state = 0
    for idx in sorted(at):
        mid_ = at[idx]
        if mid_ == state:
            continue
        state = mid_
        if mid_ == 0:
            out.append(Trigger(before_waypoint=idx, param1=0.0, param2=float(volume_pct)))
        else:
            m = by_id[mid_]
            out.append(Trigger(before_waypoint=idx, command=DO_SEND_SCRIPT_MESSAGE,
                               param1=float(mid_), param2=float(volume_pct),
                               param3=float(m.repeat), param4=round(m.period_s, 3)))
    return out


def _ring_lonlat(coords: Any) -> list[list[float]]:
    return [[round(float(x), 8), round(float(y), 8)] for x, y in coords]


def _polygons_lonlat(geom: BaseGeometry) -> list[dict[str, Any]]:
    out = []
    for p in shapely.get_parts(geom):
        if isinstance(p, Polygon) and not p.is_empty:
            out.append({"exterior": _ring_lonlat(p.exterior.coords),
                        "holes": [_ring_lonlat(r.coords) for r in p.interiors]})
    return out


def _messages_json(messages_by_zone: Mapping[str, Message]) -> list[dict[str, Any]]:
    zones_of = _zones_by_message(messages_by_zone)
    seen: dict[int, Message] = {}
    for m in messages_by_zone.values():
        seen.setdefault(m.id, m)
    return [
        {"id": m.id, "text": m.text, "language": m.language,
         "audio": m.audio_path.name if m.audio_path is not None else None,
         "duration_s": None if m.duration_s is None else round(m.duration_s, 3),
         "gap_s": m.gap_s,
         "period_s": None if m.duration_s is None else round(m.period_s, 3),
         "priority": m.priority, "repeat": m.repeat,
         "window": None if m.window is None else str(m.window), "zones": zones_of[m.id]}
        for m in sorted(seen.values(), key=lambda m: m.id)
    ]


COMPANION_PLAN_FORMAT = "dronepatrol-companion-plan"


def companion_plan(
    route: Route,
    broadcasts: RouteBroadcasts,
    messages_by_zone: Mapping[str, Message],
    *,
    zoneset: ZoneSet,
    mission_items: Sequence[MissionItem],
    volume_pct: float = 100.0,
) -> dict[str, Any]:
    """The JSON plan a speaker agent on the companion computer follows from telemetry.

    ``mission_items`` is the list uploaded for ``route`` (without home, as
    :func:`dronepatrol.output.route_items` builds it). It must have one NAV_WAYPOINT per
    route waypoint after the first. Mission seq = index in that list + 1, because home is
    seq 0. The agent applies these rules, in order:

    1. Inside a ``no_fly`` polygon: silent.
    2. In AUTO with MISSION_CURRENT = ``seq`` listed in ``by_mission_seq``: the entry gives
       ``message_id`` for the leg flown towards that waypoint (0 = silent: transit). If the
       entry is not silent and the position lies inside one of the entry's ``zones``
       polygons whose message has a higher ``priority``, that message plays instead. This
       is how a switch in the middle of a leg is placed exactly.
    3. Any other seq (takeoff, RTL) or mode: silent.

    A message starts when the state changes to it (replacing what played), loops
    (``repeat`` 0) or plays ``repeat`` times, and stops when the state becomes 0. Time
    windows are in local time of day.
    """
    if not (math.isfinite(volume_pct) and 0 < volume_pct <= 100):
        raise AcousticsError(f"companion_plan: volume_pct={volume_pct!r} must be in (0, 100]")
    nav_seqs = [i + 1 for i, it in enumerate(mission_items) if it.command == NAV_WAYPOINT]
    n_legs = len(route.waypoints_xy) - 1
    if len(nav_seqs) != n_legs:
        raise AcousticsError(
            f"companion_plan: route {route.name} has {n_legs} legs but the mission has "
            f"{len(nav_seqs)} NAV_WAYPOINT items; pass the items built for this route "
            "(dronepatrol.output.route_items)"
        )
    leg_states: dict[int, list[int]] = {k: [] for k in range(n_legs)}
    for iv in broadcasts.intervals:
        for k in range(iv.start_leg, min(iv.end_leg, n_legs - 1) + 1):
            if k == iv.end_leg and iv.end_fraction <= 0.0 and k != iv.start_leg:
                continue
            leg_states[k].append(iv.message_id)
    by_seq = []
    for k in range(n_legs):
        ids = list(dict.fromkeys(leg_states[k]))
        zone = route.leg_zones[k]
        own = messages_by_zone.get(zone) if zone is not None else None
        main = own.id if (own is not None and own.id in ids) else (ids[0] if ids else 0)
        if route.leg_kinds[k] == "transit":
            main = 0
        entry: dict[str, Any] = {"seq": nav_seqs[k], "leg": k, "kind": route.leg_kinds[k],
                                 "zone": zone, "message_id": main}
        others = [i for i in ids if i != main]
        if main and others:
            entry["zones"] = sorted({z for z, m in messages_by_zone.items() if m.id in others})
        by_seq.append(entry)
    zones = []
    for z in zoneset.patrol_zones:
        m = messages_by_zone.get(z.name)
        if m is None:
            continue
        zones.append({"zone": z.name, "kind": z.kind.value, "message_id": m.id,
                      "priority": m.priority, "polygons": _polygons_lonlat(z.geometry)})
    return {
        "format": COMPANION_PLAN_FORMAT,
        "version": 1,
        "route": route.name,
        "volume_pct": float(volume_pct),
        "messages": _messages_json(messages_by_zone),
        "by_mission_seq": by_seq,
        "zones": zones,
        "no_fly": [{"zone": z.name, "polygons": _polygons_lonlat(z.geometry)}
                   for z in zoneset.no_fly_zones],
    }


def broadcasts_to_json(
    broadcasts: Sequence[RouteBroadcasts],
    messages_by_zone: Mapping[str, Message],
    frame: LocalFrame,
    *,
    path_step_s: float = 5.0,
) -> dict[str, Any]:
    """``DIR/broadcasts.json``: per route, the events and where each message plays.

    Each interval carries ``path``, the (lon, lat) track flown while it plays (one point
    every ``path_step_s`` and at both ends), for drawing on the map.
    """
    routes = []
    for rb in broadcasts:
        evs = []
        for e in rb.events:
            lon, lat = frame.to_lonlat(e.x_m, e.y_m)
            evs.append({"t_s": round(e.t_s, 3), "waypoint_index": e.waypoint_index,
                        "leg_fraction": round(e.leg_fraction, 6),
                        "lon": round(float(lon), 8), "lat": round(float(lat), 8),
                        "alt_m": round(e.alt_m, 2), "message_id": e.message_id, "zone": e.zone})
        ivs = []
        for iv in rb.intervals:
            n = max(2, int(math.ceil((iv.end_s - iv.start_s) / path_step_s)) + 1)
            xy, _ = rb.timing.position_at(np.linspace(iv.start_s, iv.end_s, n))
            ll = frame.xy_to_lonlat(xy)
            ivs.append({"start_s": round(iv.start_s, 3), "end_s": round(iv.end_s, 3),
                        "message_id": iv.message_id, "zone": iv.zone,
                        "path": [[round(float(a), 7), round(float(b), 7)] for a, b in ll]})
        routes.append({"route": rb.route, "duration_s": round(rb.timing.end_s, 3),
                       "on_air_s": round(rb.on_air_s, 3), "events": evs, "intervals": ivs})
    return {"format": "dronepatrol-broadcasts", "version": 1,
            "messages": _messages_json(messages_by_zone), "routes": routes}
