"""The whole planning job in one call: broadcasts, sweeps, fleet, files.

:func:`plan_and_write` is what ``dronepatrol plan`` and ``dronepatrol demo`` run:

1. messages per zone (a zone's ``message`` property; with ``default_messages`` every zone
   gets its kind's default), spoken offline to ``DIR/audio/`` and measured;
2. per zone with a message, the lane spacing and altitude under which every ground point hears
   one complete message per pass (:func:`dronepatrol.broadcast.acoustic_spacing`); other zones
   keep the caller's ``spacing_m``;
3. sweeps and routes (:func:`dronepatrol.plan.plan_patrol`), and with ``drones`` a fleet
   schedule over the shift (:func:`dronepatrol.fleet.plan_fleet`);
4. per route the broadcast schedule, DO_SEND_SCRIPT_MESSAGE mission triggers and the
   companion plan for the speaker agent;
5. files: everything :func:`dronepatrol.output.write_plan_dir` writes, plus
   ``broadcasts.json``, ``<route>.companion.json``, ``acoustics.json``, ``schedule.json`` and
   ``schedule.png`` (fleet), and ``map.png``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely

from dronepatrol import acoustics as ac
from dronepatrol import broadcast as bc
from dronepatrol.errors import PlanningError
from dronepatrol.geo import LocalFrame
from dronepatrol.output import make_dir, route_items, write_json, write_plan_dir
from dronepatrol.plan import PatrolPlan, PlanOptions, local_zones, plan_patrol
from dronepatrol.route import Route
from dronepatrol.zones import Base, ZoneSet


@dataclass(frozen=True, kw_only=True)
class PatrolSettings:
    """Everything :func:`plan_and_write` needs besides the zones. Units in names."""

    plan: PlanOptions = field(default_factory=PlanOptions)
    broadcast: bool = True
    default_messages: bool = False
    speaker: ac.Speaker = field(default_factory=ac.Speaker)
    atmosphere: ac.Atmosphere = field(default_factory=ac.Atmosphere)
    required_snr_db: float = ac.DEFAULT_REQUIRED_SNR_DB
    min_altitude_m: float = 30.0
    max_altitude_m: float = 120.0
    volume_pct: float = 100.0
    drones: int | None = None
    shift_s: float = 4 * 3600.0
    endurance_s: float = 25 * 60.0
    reserve_fraction: float = 0.2
    swap_s: float = 180.0
    solver_time_limit_s: float = 2.0

    def __post_init__(self) -> None:
        if self.drones is not None and self.drones < 1:
            raise PlanningError(f"drones must be at least 1, got {self.drones}")


@dataclass
class PatrolResult:
    """What :func:`plan_and_write` planned and where it wrote it."""

    plan: PatrolPlan
    routes: tuple[Route, ...]
    messages: dict[str, bc.Message]
    acoustics: dict[str, bc.ZoneAcoustics]
    broadcasts: list[bc.RouteBroadcasts]
    schedule: Any | None  # dronepatrol.fleet.FleetSchedule with drones
    files: dict[str, Path]


def _short_side_m(geom: Any) -> float:
    rect = shapely.minimum_rotated_rectangle(geom)
    xy = shapely.get_coordinates(rect)
    if len(xy) < 4:
        return 0.0
    a = float(((xy[1] - xy[0]) ** 2).sum() ** 0.5)
    b = float(((xy[2] - xy[1]) ** 2).sum() ** 0.5)
    return min(a, b)


def plan_broadcasts(
    zoneset: ZoneSet, settings: PatrolSettings, audio_dir: Path
) -> tuple[dict[str, bc.Message], dict[str, bc.ZoneAcoustics], dict[str, float],
           dict[str, float]]:
    """Messages (rendered and measured), acoustics per zone, and the spacing and altitude
    overrides for :func:`plan_patrol`."""
    if not settings.broadcast:
        return {}, {}, {}, {}
    every = bc.messages_for_zones(zoneset)
    messages = {name: m for name, m in every.items()
                if settings.default_messages or zoneset.zone(name).message}
    if not messages:
        return {}, {}, {}, {}
    messages = bc.render_messages(messages, audio_dir)
    # the speaker agent finds every clip in DIR/audio: copy users' own recordings there
    for name, m in list(messages.items()):
        if m.audio_path is not None and Path(m.audio_path).parent.resolve() != audio_dir.resolve():
            target = audio_dir / f"message-{m.id}{Path(m.audio_path).suffix or '.wav'}"
            shutil.copyfile(m.audio_path, target)
            messages[name] = dataclasses.replace(m, audio_path=target)
    frame = LocalFrame.for_geometries([z.geometry for z in zoneset.zones])
    acoustics = bc.acoustic_spacing(
        zoneset, messages, settings.speaker, settings.atmosphere,
        speed_mps=settings.plan.speed_mps, min_altitude_m=settings.min_altitude_m,
        max_altitude_m=settings.max_altitude_m, required_snr_db=settings.required_snr_db,
        frame=frame,
    )
    local = local_zones(zoneset, frame)
    spacing: dict[str, float] = {}
    altitude: dict[str, float] = {}
    for name, za in acoustics.items():
        # at least one lane must cross the zone, or nobody in it hears a whole message
        cap = 0.99 * _short_side_m(local[name])
        spacing[name] = min(za.spacing_m, cap) if cap > 0 else za.spacing_m
        altitude[name] = za.altitude_m
    return messages, acoustics, spacing, altitude


def plan_and_write(
    zoneset: ZoneSet,
    settings: PatrolSettings,
    out_dir: str | Path,
    *,
    bases: Sequence[Base] | None = None,
    draw: bool = True,
) -> PatrolResult:
    """Plan broadcasts, sweeps and (with ``settings.drones``) a fleet; write ``out_dir``."""
    out = make_dir(out_dir)
    messages, acoustics, spacing, altitude = plan_broadcasts(zoneset, settings, out / "audio")
    plan = plan_patrol(zoneset, settings.plan, bases=bases, spacing_by_zone=spacing,
                       altitude_by_zone=altitude)
    schedule = None
    routes: tuple[Route, ...] = plan.routes
    if settings.drones is not None:
        from dronepatrol.fleet import FleetOptions, plan_fleet

        schedule = plan_fleet(plan, FleetOptions(
            drones=settings.drones, shift_s=settings.shift_s, endurance_s=settings.endurance_s,
            reserve_fraction=settings.reserve_fraction, swap_s=settings.swap_s,
            solver_time_limit_s=settings.solver_time_limit_s))
        routes = tuple(s.route for d in schedule.drones for s in schedule.sorties.get(d.name, ()))

    kin = settings.plan.kinematics
    zones_xy = local_zones(zoneset, plan.frame)
    items: dict[str, list[Any]] = {}
    broadcasts: list[bc.RouteBroadcasts] = []
    companions: dict[str, dict[str, Any]] = {}
    for r in routes:
        if messages:
            rb = bc.schedule(r, messages, kin, zones_xy=zones_xy, no_fly_xy=plan.no_fly_local)
            triggers = bc.mission_triggers(r, rb, messages, volume_pct=settings.volume_pct)
            items[r.name] = route_items(plan, r, triggers)
            broadcasts.append(rb)
            companions[r.name] = bc.companion_plan(
                r, rb, messages, zoneset=zoneset, mission_items=items[r.name],
                volume_pct=settings.volume_pct)
        else:
            items[r.name] = route_items(plan, r)
    files = write_plan_dir(plan, out, routes=routes, items=items)

    def dump(name: str, obj: object) -> None:
        files[name] = write_json(out / name, obj)

    dump("zones.geojson", zones_to_geojson(zoneset))
    if messages:
        dump("messages.json", {name: message_to_json(m, out) for name, m in messages.items()})
        dump("broadcasts.json", bc.broadcasts_to_json(broadcasts, messages, plan.frame))
        for name, cp in companions.items():
            dump(f"{name}.companion.json", cp)
        dump("acoustics.json", {
            "speaker": {"level_at_1m_db": settings.speaker.level_at_1m_db,
                        "volume_pct": settings.speaker.volume_pct,
                        "beam_width_deg": settings.speaker.beam_width_deg,
                        "band_hz": settings.speaker.band_hz},
            "atmosphere": {"temperature_c": settings.atmosphere.temperature_c,
                           "humidity_pct": settings.atmosphere.humidity_pct,
                           "pressure_kpa": settings.atmosphere.pressure_kpa},
            "required_snr_db": settings.required_snr_db,
            "zones": {name: {
                "message_id": messages[name].id, "message_duration_s": messages[name].duration_s,
                "spacing_m": spacing[name], "altitude_m": za.altitude_m,
                "radius_m": za.radius_m, "ambient_db": za.ambient_db,
                "table": bc.tradeoff_table(za, max_rows=12)} for name, za in acoustics.items()},
        })
    if schedule is not None:
        from dronepatrol.fleet import schedule_to_json
        from dronepatrol.fleet_plot import save_gantt

        dump("schedule.json", schedule_to_json(schedule))
        if draw:
            files["schedule.png"] = save_gantt(schedule, out / "schedule.png")
    if draw:
        from dronepatrol.plot import save_map

        # a fleet flies the same loops again and again: draw each distinct path once
        seen: dict[bytes, int] = {}
        for i, r in enumerate(routes):
            seen.setdefault(r.waypoints_xy.round(1).tobytes(), i)
        keep = sorted(seen.values())
        files["map.png"] = save_map(
            plan, out / "map.png", routes=[routes[i] for i in keep],
            broadcasts=[broadcasts[i] for i in keep if i < len(broadcasts)])
    return PatrolResult(plan=plan, routes=routes, messages=messages, acoustics=acoustics,
                        broadcasts=broadcasts, schedule=schedule, files=files)


def zones_to_geojson(zoneset: ZoneSet) -> dict[str, Any]:
    """The zones and bases as a GeoJSON FeatureCollection (properties as read)."""
    feats: list[dict[str, Any]] = []
    for z in zoneset.zones:
        props = {k: v for k, v in z.properties.items() if _jsonable(v)}
        props.update(name=z.name, kind=z.kind.value)
        feats.append({"type": "Feature", "properties": props,
                      "geometry": shapely.geometry.mapping(z.geometry)})
    for b in zoneset.bases:
        props = {k: v for k, v in b.properties.items() if _jsonable(v)}
        props.update(name=b.name, role="base")
        feats.append({"type": "Feature", "properties": props,
                      "geometry": {"type": "Point", "coordinates": [b.lon_deg, b.lat_deg]}})
    return {"type": "FeatureCollection", "features": feats}


def _jsonable(v: object) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True


def message_to_json(m: bc.Message, out: Path) -> dict[str, Any]:
    """A rendered message as JSON (audio path relative to ``out`` when inside it)."""
    audio = None
    if m.audio_path is not None:
        try:
            audio = str(Path(m.audio_path).resolve().relative_to(out.resolve()))
        except ValueError:
            audio = str(m.audio_path)
    return {"id": m.id, "text": m.text, "language": m.language, "audio": audio,
            "priority": m.priority, "repeat": m.repeat,
            "window": None if m.window is None else str(m.window),
            "duration_s": m.duration_s, "gap_s": m.gap_s}


def message_from_json(obj: dict[str, Any], base: Path) -> bc.Message:
    """The inverse of :func:`message_to_json`."""
    audio = obj.get("audio")
    return bc.Message(
        id=int(obj["id"]), text=str(obj["text"]), language=str(obj["language"]),
        audio_path=None if audio is None else base / audio, priority=int(obj["priority"]),
        repeat=int(obj["repeat"]),
        window=None if obj.get("window") is None else bc.TimeWindow.parse(obj["window"]),
        duration_s=obj.get("duration_s"), gap_s=float(obj["gap_s"]))
