"""Pre-flight checks run before any upload, and the vehicle's storage limits.

Distances and no-fly crossings are computed in :class:`dronepatrol.geo.LocalFrame`, the
planner's own frame (azimuthal equidistant on WGS84): pass the plan's frame and the check
agrees with the planner exactly; without one, a frame centred on the route and zones is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from shapely.geometry import LineString, Polygon

from dronepatrol.errors import FrameError, MissionError, SafetyError
from dronepatrol.geo import LocalFrame
from dronepatrol.mission import (
    FENCE,
    MISSION,
    NAV_LAND,
    NAV_LOITER_TIME,
    NAV_RETURN_TO_LAUNCH,
    NAV_TAKEOFF,
    NAV_WAYPOINT,
    RALLY,
    MissionItem,
)

#: ArduCopter's default storage, measured on 4.7 SITL (mission count includes home).
MAX_MISSION_ITEMS = 650
MAX_FENCE_ITEMS = 69
MAX_RALLY_ITEMS = 20

# NAV commands whose lat/lon is a place the vehicle flies to (0/0 means "here" for takeoff/land).
_POSITIONAL = {NAV_WAYPOINT, 17, 18, NAV_LOITER_TIME, NAV_LAND, NAV_TAKEOFF, 31, 82}


@dataclass(frozen=True, kw_only=True)
class RouteEstimate:
    """What :func:`preflight_check` computed for a route."""

    distance_m: float
    duration_s: float
    legs: int


def _describe(index: int, item: MissionItem) -> str:
    return f"item {index + 1} (command {item.command} at lat {item.lat_deg:.6f}, " \
           f"lon {item.lon_deg:.6f})"


def preflight_check(
    items: Sequence[MissionItem],
    *,
    home: tuple[float, float] | None,
    no_fly_lonlat_polygons: Sequence[Sequence[tuple[float, float]]] = (),
    min_alt_m: float = 5.0,
    max_alt_m: float = 120.0,
    speed_mps: float = 5.0,
    endurance_s: float | None = None,
    reserve_fraction: float = 0.25,
    frame: LocalFrame | None = None,
) -> RouteEstimate:
    """Check a mission (mission_type 0, without home) before upload; raise SafetyError.

    ``home`` is (lat, lon) in degrees (MAVLink order); ``no_fly_lonlat_polygons`` are rings of
    (lon, lat) (GeoJSON order). Checks: home known; every flown item's altitude within
    [min_alt_m, max_alt_m]; no leg (home -> items -> home) crosses a no-fly polygon; the
    estimated flight time at ``speed_mps`` (plus hold times) fits in
    ``endurance_s * (1 - reserve_fraction)`` when an endurance is given. ``frame`` is the
    plan's :class:`~dronepatrol.geo.LocalFrame` (default: one centred on the route and zones).

    >>> from dronepatrol.mission import MissionItem
    >>> wp = MissionItem(command=16, lat_deg=52.0, lon_deg=4.001, alt_m=30)
    >>> round(preflight_check([wp], home=(52.0, 4.0)).distance_m)
    137
    """
    if home is None:
        raise SafetyError(
            "home position unknown: wait for the vehicle's HOME_POSITION (GPS fix) "
            "before uploading, or pass home=(lat, lon)"
        )
    if not items:
        raise SafetyError("the mission is empty: nothing to fly")
    if speed_mps <= 0:
        raise SafetyError(f"speed_mps={speed_mps} must be positive")
    if not 0.0 <= reserve_fraction < 1.0:
        raise SafetyError(f"reserve_fraction={reserve_fraction} must be in [0, 1)")
    for index, item in enumerate(items):
        if item.mission_type != MISSION:
            raise SafetyError(
                f"{_describe(index, item)} has mission_type {item.mission_type}; "
                "preflight_check takes mission items only (fence and rally go separately)"
            )
    home_lat, home_lon = home
    route: list[tuple[float, float]] = [(home_lon, home_lat)]  # (lon, lat)
    labels = ["home"]
    hold_s = 0.0
    for index, item in enumerate(items):
        if item.command not in _POSITIONAL:
            if item.command == NAV_RETURN_TO_LAUNCH:
                break
            continue
        at_here = item.lat_deg == 0.0 and item.lon_deg == 0.0
        if item.command != NAV_LAND and not min_alt_m <= item.alt_m <= max_alt_m:
            raise SafetyError(
                f"{_describe(index, item)} flies at {item.alt_m:g} m, outside the allowed "
                f"{min_alt_m:g}-{max_alt_m:g} m; change the plan's altitude or the limits"
            )
        if item.command in (NAV_WAYPOINT, NAV_LOITER_TIME):
            hold_s += max(item.param1, 0.0)
        if not at_here:
            route.append((item.lon_deg, item.lat_deg))
            labels.append(f"item {index + 1}")
    route.append(route[0])
    labels.append("home")
    rings = []
    for zone_index, ring in enumerate(no_fly_lonlat_polygons):
        try:
            arr = np.asarray(ring, dtype=float)
            if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < 3:
                raise ValueError(f"shape {arr.shape}, need at least 3 (lon, lat) pairs")
        except (ValueError, TypeError) as exc:
            raise SafetyError(f"no-fly polygon {zone_index} is not a ring of (lon, lat): {exc}")\
                from exc
        rings.append(arr)
    every = np.concatenate([np.asarray(route, dtype=float), *rings])
    if not np.all(np.isfinite(every)):
        raise SafetyError("the route or a no-fly polygon has NaN or infinite coordinates")
    if frame is None:
        try:
            frame = LocalFrame.for_lonlat(every[:, 0], every[:, 1], what="route and no-fly zones")
        except FrameError as exc:
            raise SafetyError(f"cannot check the route: {exc}") from exc
    points = [(float(x), float(y)) for x, y in frame.xy_to_local(route)]
    zones = []
    for ring_lonlat in rings:
        poly = Polygon(frame.xy_to_local(ring_lonlat))
        if not poly.is_valid or poly.area <= 0:
            poly = poly.buffer(0)
        zones.append(poly)
    distance = 0.0
    for leg in range(len(points) - 1):
        a, b = points[leg], points[leg + 1]
        distance += math.dist(a, b)
        if a == b:
            continue
        line = LineString([a, b])
        for zone_index, zone in enumerate(zones):
            if line.intersects(zone) and line.intersection(zone).length > 1e-6:
                raise SafetyError(
                    f"leg {leg + 1} ({labels[leg]} -> {labels[leg + 1]}) crosses no-fly "
                    f"polygon {zone_index} for {line.intersection(zone).length:.0f} m; "
                    "re-plan the route around it"
                )
    duration = distance / speed_mps + hold_s
    if endurance_s is not None:
        usable = endurance_s * (1.0 - reserve_fraction)
        if duration > usable:
            raise SafetyError(
                f"the route needs about {duration:.0f} s ({distance:.0f} m at {speed_mps:g} m/s "
                f"plus {hold_s:.0f} s of holds) but the battery gives {usable:.0f} s after a "
                f"{reserve_fraction:.0%} reserve of {endurance_s:.0f} s; split it into sorties"
            )
    return RouteEstimate(distance_m=distance, duration_s=duration, legs=len(points) - 1)


_KINDS = {MISSION: "mission", FENCE: "fence", RALLY: "rally"}
_UPLOADS = {MISSION: "Vehicle.upload_mission", FENCE: "Vehicle.upload_fence",
            RALLY: "Vehicle.upload_rally"}


def check_item_types(items: Sequence[MissionItem], mission_type: int, *,
                     what: str = "upload") -> None:
    """Refuse anything in ``items`` that is not a MissionItem of ``mission_type``.

    The link's one copy of this check (every upload path calls it); raises MissionError.
    """
    kind = _KINDS.get(mission_type, str(mission_type))
    for index, item in enumerate(items):
        if not isinstance(item, MissionItem):
            raise MissionError(f"{what}: item {index} is {type(item).__name__}, not a "
                               "MissionItem")
        if item.mission_type != mission_type:
            other = _UPLOADS.get(item.mission_type, "the matching upload")
            raise MissionError(
                f"{what}: item {index} (command {item.command}) has mission_type "
                f"{item.mission_type} but this upload is {kind} ({mission_type}); "
                f"send {_KINDS.get(item.mission_type, 'such')} items with {other}")


def check_capacity(count: int, mission_type: int, *, limit: int | None = None,
                   storage_param_set: bool = False) -> None:
    """Refuse ``count`` items (mission count includes home) above the vehicle's storage.

    ``storage_param_set`` says BRD_SD_MISSION / BRD_SD_FENCE is raised on the vehicle, in
    which case the vehicle itself decides (it answers NO_SPACE if it cannot).
    """
    default = {MISSION: MAX_MISSION_ITEMS, FENCE: MAX_FENCE_ITEMS, RALLY: MAX_RALLY_ITEMS}
    cap = limit if limit is not None else default[mission_type]
    if count <= cap or storage_param_set:
        return
    what = {MISSION: "mission", FENCE: "fence", RALLY: "rally"}[mission_type]
    hint = {
        MISSION: "split the route into sorties (dronepatrol.mission.split_for_capacity) or set "
                 "BRD_SD_MISSION to store missions on the SD card",
        FENCE: "simplify the geofence or set BRD_SD_FENCE to store the fence on the SD card",
        RALLY: "use fewer rally points (RALLY_TOTAL)",
    }[mission_type]
    raise MissionError(
        f"{what} has {count} items{' including home' if mission_type == MISSION else ''} but "
        f"the vehicle stores at most {cap}; {hint}"
    )
