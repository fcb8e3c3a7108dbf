"""Fly a plan directory on MAVLink vehicles: upload, arm, follow progress, swap, come home.

``fly_plan(DIR, ["tcp:127.0.0.1:5760", ...])`` takes what ``dronepatrol plan`` wrote and flies
it: one vehicle per route (or per drone of a fleet schedule), all at once, each in its own
thread. For every sortie it

1. runs the pre-flight checks (altitudes, no leg through a no-fly area, battery for the route
   plus reserve, home known) and refuses to upload when one fails;
2. uploads the geofence (inclusion polygon round the area, exclusions for no-fly areas), the
   rally points (the bases) and the mission, each verified by reading it back; sets the fence
   parameters and the cruise speed;
3. arms (waiting while the autopilot still reports ``PreArm:`` reasons), starts the mission
   (which begins with NAV_TAKEOFF), follows it to the landing, and logs the telemetry to
   ``DIR/flight/<vehicle>.tlog`` and a JSON-lines track ``DIR/flight/<vehicle>.track.jsonl``;
4. between sorties, on the ground: swaps the battery (``MAV_CMD_BATTERY_RESET`` on the
   simulator; on a real drone the operator swaps it and the autopilot sees a full pack).

Ctrl-C (KeyboardInterrupt) commands RTL on every vehicle before returning. A link failure leaves
the vehicle on its mission with ArduPilot's own failsafes armed (see
:func:`dronepatrol.link.recommended_failsafe_params`).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dronepatrol import mission as ms
from dronepatrol.errors import DronePatrolError, LinkError, SafetyError
from dronepatrol.output import read_json, write_json

#: Fence parameters set before a patrol: polygon fence and altitude ceiling, no circle
#: (ArduCopter's default 150 m circle would end a city patrol), RTL on breach.
FENCE_PARAMS = {"FENCE_TYPE": 5.0, "FENCE_ALT_MAX": 120.0, "FENCE_ACTION": 1.0}


@dataclass(frozen=True)
class Sortie:
    """One mission flight of one vehicle, from take-off to landing."""

    name: str
    mission: tuple[ms.MissionItem, ...]
    speed_mps: float
    zones: tuple[str, ...] = ()
    start_s: float | None = None  # planned start in the shift, seconds (fleet schedules)


@dataclass(frozen=True)
class FlightPlan:
    """What to fly: per vehicle a list of sorties, one geofence and one rally set for all."""

    vehicles: tuple[tuple[Sortie, ...], ...]
    home_bases: tuple[str, ...]
    fence: tuple[ms.MissionItem, ...]
    rally: tuple[ms.MissionItem, ...]
    no_fly_lonlat: tuple[tuple[tuple[float, float], ...], ...]
    max_altitude_m: float = 120.0
    endurance_s: float | None = None
    reserve_fraction: float = 0.2
    frame_center_lonlat: tuple[float, float] | None = None
    """Centre of the plan's local frame, so pre-flight checks measure exactly as the planner."""


@dataclass
class VehicleResult:
    """How one vehicle's flights went."""

    name: str
    connection: str
    sorties_flown: int = 0
    sorties_planned: int = 0
    flight_time_s: float = 0.0
    battery_used_pct: list[float] = field(default_factory=list)
    status_texts: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    error: str | None = None
    tlog: Path | None = None
    track: Path | None = None


def load_flight_plan(plan_dir: str | Path) -> FlightPlan:
    """Read a plan directory written by ``dronepatrol plan``.

    With ``schedule.json`` (a fleet plan) each drone flies its sorties in order; otherwise each
    route (``routes.geojson``) is one vehicle's single sortie.
    """
    d = Path(plan_dir)
    if not d.is_dir():
        raise DronePatrolError(f"{d}: no such plan directory; run `dronepatrol plan` first")
    summary_path = d / "summary.json"
    if not summary_path.exists():
        raise DronePatrolError(f"{d}: no summary.json; is this a `dronepatrol plan` output?")
    try:
        return _read_flight_plan(d)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise DronePatrolError(f"{d}: a plan file lacks what `dronepatrol fly` needs "
                               f"({type(exc).__name__}: {exc}); re-run `dronepatrol plan` "
                               "into a fresh directory") from None


def _read_flight_plan(d: Path) -> FlightPlan:
    routes = read_json(d / "routes.geojson")["features"]
    speed = {f["properties"]["route"]: float(f["properties"].get("speed_mps", 5.0))
             for f in routes}
    zones_of = {f["properties"]["route"]: tuple(f["properties"].get("zones", ())) for f in routes}
    base_of = {f["properties"]["route"]: str(f["properties"].get("start_base", ""))
               for f in routes}

    def sortie(name: str, start_s: float | None = None) -> Sortie:
        path = d / f"{name}.waypoints"
        if not path.exists():
            raise DronePatrolError(f"{path}: mission file missing; re-run `dronepatrol plan`")
        _, items = ms.read_waypoints(path)
        return Sortie(name, tuple(items), speed.get(name, 5.0), zones_of.get(name, ()), start_s)

    schedule_path = d / "schedule.json"
    vehicles: list[tuple[Sortie, ...]] = []
    endurance = None
    reserve = 0.2
    if schedule_path.exists():
        sched = read_json(schedule_path)
        drones = [d for d in sched["drones"] if d["sorties"]]
        for drone in drones:
            vehicles.append(tuple(sortie(s["route"], s.get("start_s"))
                                  for s in drone["sorties"]))
        homes = [str(d.get("home_base") or base_of.get(d["sorties"][0]["route"], ""))
                 for d in drones]
        if drones:
            endurance = min(float(d.get("endurance_s", 0)) or math.inf for d in drones)
            endurance = None if math.isinf(endurance) else endurance
            reserve = max(float(d.get("reserve_fraction", reserve)) for d in drones)
    else:
        vehicles = [(sortie(f["properties"]["route"]),) for f in routes]
        homes = [base_of.get(f["properties"]["route"], "") for f in routes]
    first = vehicles[0][0].name if vehicles and vehicles[0] else None
    fence: list[ms.MissionItem] = []
    rally: list[ms.MissionItem] = []
    if first is not None:
        fence = ms.read_fence(d / f"{first}.fence.waypoints")
        rally = ms.read_rally(d / f"{first}.rally.waypoints")
    no_fly: list[tuple[tuple[float, float], ...]] = []
    gf = d / "geofence.geojson"
    if gf.exists():
        for f in read_json(gf)["features"]:
            if f["properties"].get("fence") == "exclusion":
                ring = f["geometry"]["coordinates"][0]
                no_fly.append(tuple((float(x), float(y)) for x, y in ring))
    frame = read_json(d / "summary.json").get("frame") or {}
    center = ((float(frame["lon0_deg"]), float(frame["lat0_deg"]))
              if "lon0_deg" in frame and "lat0_deg" in frame else None)
    return FlightPlan(tuple(vehicles), tuple(homes), tuple(fence), tuple(rally), tuple(no_fly),
                      endurance_s=endurance, reserve_fraction=reserve,
                      frame_center_lonlat=center)


ProgressCallback = Callable[[int, Any], None]


def _fly_vehicle(index: int, url: str, sorties: Sequence[Sortie], fp: FlightPlan,
                 out: Path, result: VehicleResult, stop: threading.Event,
                 vehicles: dict[int, Any], on_progress: ProgressCallback | None,
                 connect_timeout_s: float, sortie_timeout_s: float,
                 signing_key: bytes | None, fleet_start: float | None = None,
                 time_scale: float = 1.0) -> None:
    from dronepatrol.geo import LocalFrame
    from dronepatrol.link import Vehicle, preflight_check

    name = result.name
    result.tlog = out / f"{name}.tlog"
    result.track = out / f"{name}.track.jsonl"
    frame = None if fp.frame_center_lonlat is None else LocalFrame(*fp.frame_center_lonlat)
    v = Vehicle.connect(url, timeout_s=connect_timeout_s, log_path=result.tlog,
                        signing_key=signing_key)
    vehicles[index] = v
    try:
        home = v.wait_home(timeout_s=connect_timeout_s)
        for p, value in FENCE_PARAMS.items():
            v.set_param(p, value)
        v.upload_fence(list(fp.fence))
        v.upload_rally(list(fp.rally))
        if fp.fence:
            v.set_param("FENCE_ENABLE", 1.0)  # enforce it: breach -> FENCE_ACTION (RTL)
        with (out / f"{name}.progress.jsonl").open("w", encoding="utf-8") as track:
            for k, s in enumerate(sorties):
                if stop.is_set():
                    break
                # on the ground at the base where the previous sortie ended (or at home)
                here = home if k == 0 or v.lat_deg is None or v.lon_deg is None else (
                    v.lat_deg, v.lon_deg, home[2])
                preflight_check(
                    list(s.mission), home=(here[0], here[1]), frame=frame,
                    no_fly_lonlat_polygons=[list(r) for r in fp.no_fly_lonlat],
                    max_alt_m=fp.max_altitude_m, speed_mps=s.speed_mps,
                    endurance_s=fp.endurance_s, reserve_fraction=fp.reserve_fraction,
                )
                if k > 0:  # battery swap at the base
                    v.reset_battery(percent=100.0)
                    v.wait_until(lambda p: (p.battery_pct or 0.0) >= 95.0, timeout_s=30.0,
                                 what="a full battery after the swap")
                v.upload_mission(list(s.mission), home=here)
                v.set_param("WP_SPD", s.speed_mps)
                if fleet_start is not None and s.start_s is not None:
                    # follow the fleet schedule: wait for this sortie's start (scaled time)
                    due = fleet_start + s.start_s / time_scale
                    while not stop.is_set() and time.monotonic() < due:
                        stop.wait(min(0.5, due - time.monotonic()))
                battery0 = v.battery_pct
                t0 = time.monotonic()
                v.start_mission(timeout_s=connect_timeout_s)
                was_airborne = False
                for snap in v.progress(interval_s=0.5, timeout_s=sortie_timeout_s, until=()):
                    track.write(json.dumps({
                        "t": round(snap.time_s, 3), "sortie": s.name, "item": snap.current_item,
                        "total": snap.total_items, "lat": snap.lat_deg, "lon": snap.lon_deg,
                        "alt_m": snap.alt_m, "speed_mps": snap.groundspeed_mps,
                        "battery_pct": snap.battery_pct, "mode": snap.mode,
                        "armed": snap.armed, "link_ok": snap.link_ok,
                        "events": list(snap.events)}) + "\n")
                    result.events.extend(snap.events)
                    if on_progress is not None:
                        on_progress(index, snap)
                    if snap.armed and (snap.alt_m or 0.0) > 1.0:
                        was_airborne = True
                    if was_airborne and not snap.armed:
                        break
                    if stop.is_set():
                        break
                else:
                    raise LinkError(f"{name}: sortie {s.name} did not end within "
                                    f"{sortie_timeout_s:.0f} s (last mode {v.mode})")
                result.flight_time_s += time.monotonic() - t0
                if battery0 is not None and v.battery_pct is not None:
                    result.battery_used_pct.append(round(battery0 - v.battery_pct, 1))
                result.sorties_flown += 1
        result.status_texts = v.status_texts
    finally:
        v.close()
        write_track(result.tlog, result.track)


def read_track(tlog: str | Path) -> list[dict[str, float]]:
    """Positions from a ``.tlog``: every GLOBAL_POSITION_INT with the vehicle's own clock.

    Each row: ``t_s`` (vehicle time since boot, so simulated time on a simulator), ``lat``,
    ``lon`` (degrees), ``alt_m`` (above home), ``sysid``.
    """
    from dronepatrol.link import _codec

    mavutil = _codec.mavutil()
    log = mavutil.mavlink_connection(str(tlog))
    rows: list[dict[str, float]] = []
    try:
        while (m := log.recv_match(type="GLOBAL_POSITION_INT")) is not None:
            if m.lat == 0 and m.lon == 0:
                continue
            rows.append({"t_s": m.time_boot_ms / 1000.0, "lat": m.lat / 1e7,
                         "lon": m.lon / 1e7, "alt_m": m.relative_alt / 1000.0,
                         "sysid": float(m.get_srcSystem())})
    finally:
        log.close()
    return rows


def write_track(tlog: str | Path | None, out: str | Path | None) -> None:
    """Write :func:`read_track` of ``tlog`` as JSON lines to ``out`` (nothing if no tlog)."""
    if tlog is None or out is None or not Path(tlog).exists():
        return
    with Path(out).open("w", encoding="utf-8") as f:
        for row in read_track(tlog):
            f.write(json.dumps(row) + "\n")


def fly_plan(
    plan: str | Path | FlightPlan,
    connections: Sequence[str],
    *,
    out_dir: str | Path | None = None,
    on_progress: ProgressCallback | None = None,
    connect_timeout_s: float = 90.0,
    sortie_timeout_s: float = 4 * 3600.0,
    signing_key: bytes | None = None,
    schedule_time_scale: float | None = None,
) -> list[VehicleResult]:
    """Fly a plan (directory or :class:`FlightPlan`) on ``connections``, one per vehicle.

    ``schedule_time_scale``: None flies each drone's sorties back to back (after the battery
    swap); a number follows a fleet schedule, starting each sortie at its planned ``start_s``
    (seconds from the shift start) divided by this factor after the fleet starts: 1 for real
    drones, the simulator's speed-up for simulated ones. A sortie that is late starts at once.

    Returns one :class:`VehicleResult` per vehicle; a vehicle's error is recorded in its result
    (``error``), the others keep flying. Raises :class:`DronePatrolError` before anything
    flies when the plan needs more vehicles than connections.
    """
    fp = load_flight_plan(plan) if not isinstance(plan, FlightPlan) else plan
    if isinstance(plan, FlightPlan) and out_dir is None:
        raise DronePatrolError("fly_plan: give out_dir when flying a FlightPlan object")
    out = Path(out_dir) if out_dir is not None else Path(plan) / "flight"  # type: ignore[arg-type]
    out.mkdir(parents=True, exist_ok=True)
    if len(connections) < len(fp.vehicles):
        raise DronePatrolError(
            f"the plan has {len(fp.vehicles)} vehicle(s) but {len(connections)} connection(s) "
            "were given; pass one --connect URL per vehicle (ArduPilot SITL instance N listens "
            "on tcp:127.0.0.1:5760+10N)"
        )
    results = [VehicleResult(name=f"vehicle-{i + 1}", connection=connections[i],
                             sorties_planned=len(s)) for i, s in enumerate(fp.vehicles)]
    stop = threading.Event()
    vehicles: dict[int, Any] = {}
    if schedule_time_scale is not None and not schedule_time_scale > 0:
        raise DronePatrolError(f"schedule_time_scale must be > 0, got {schedule_time_scale}")
    fleet_start = time.monotonic() if schedule_time_scale is not None else None

    def run(i: int) -> None:
        try:
            _fly_vehicle(i, connections[i], fp.vehicles[i], fp, out, results[i], stop,
                         vehicles, on_progress, connect_timeout_s, sortie_timeout_s,
                         signing_key, fleet_start, schedule_time_scale or 1.0)
        except (DronePatrolError, SafetyError) as exc:
            results[i].error = str(exc)
        except Exception as exc:  # a bug must not leave other vehicles unattended
            results[i].error = f"unexpected {type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=run, args=(i,), name=f"fly-{i + 1}", daemon=True)
               for i in range(len(fp.vehicles))]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.2)
    except KeyboardInterrupt:
        stop.set()
        for v in list(vehicles.values()):
            try:
                v.rtl()
            except DronePatrolError:
                pass
        raise
    write_json(out / "results.json",
               [{k: (str(v) if isinstance(v, Path) else v) for k, v in r.__dict__.items()}
                for r in results])
    return results
