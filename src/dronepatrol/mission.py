"""MAVLink mission items for planned routes, geofences and rally points, and mission files.

Coordinates in :class:`MissionItem` are (lat, lon) in degrees as on the MAVLink wire. The
public builders (:func:`route_mission`, :func:`fence_items`, :func:`rally_items`,
:func:`split_for_capacity`) take (lon, lat) like the rest of the planning API; the swap
happens in :func:`_latlon` in this module and nowhere else.

Files written here:

* QGC WPL 110 ``.waypoints`` (:func:`write_waypoints`): tab-separated, 12 columns
  ``seq current frame command p1 p2 p3 p4 lat lon alt autocontinue``, line 0 is home
  (``current`` 1, frame 0, AMSL altitude). Parameters and coordinates carry 8 decimals and
  altitudes 6, as Mission Planner writes them; pymavlink's ``mavwp.MAVWPLoader`` (and so
  MAVProxy ``wp load``) reads them.
* Fence and rally files (:func:`write_fence`, :func:`write_rally`): the same QGC WPL 110
  layout without a home line (seq 0 is the first fence vertex / rally point), which is what
  MAVProxy's ``fence load`` / ``rally load`` read through ``MissionItemProtocol_Fence`` /
  ``_Rally`` (they need MAVLink 2).
* QGroundControl ``.plan`` JSON (:func:`write_plan`), mission + geofence + rally points.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import shapely
from shapely.geometry import Polygon

from dronepatrol.errors import DronePatrolWarning, FrameError, MissionError
from dronepatrol.geo import LocalFrame

# mission_type values (MAV_MISSION_TYPE)
MISSION = 0
FENCE = 1
RALLY = 2

# MAV_FRAME values used on the wire
FRAME_GLOBAL = 0  # altitude AMSL (home item)
FRAME_MISSION = 2  # no coordinates (DO_ commands)
FRAME_GLOBAL_RELATIVE_ALT = 3  # altitude relative to home

# MAV_CMD values used by dronepatrol
NAV_WAYPOINT = 16
NAV_LOITER_TIME = 19
NAV_RETURN_TO_LAUNCH = 20
NAV_LAND = 21
NAV_TAKEOFF = 22
DO_JUMP = 177
DO_CHANGE_SPEED = 178
DO_SET_RELAY = 181
DO_SET_SERVO = 183
DO_SEND_SCRIPT_MESSAGE = 217
NAV_FENCE_RETURN_POINT = 5000
NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
NAV_FENCE_CIRCLE_INCLUSION = 5003
NAV_FENCE_CIRCLE_EXCLUSION = 5004
NAV_RALLY_POINT = 5100


@dataclass(frozen=True, kw_only=True)
class MissionItem:
    """One mission, fence or rally item as sent in MISSION_ITEM_INT (lat/lon in degrees).

    ``alt_m`` is relative to home for ``FRAME_GLOBAL_RELATIVE_ALT``. Items carry no
    sequence number: position in the list gives it. For mission_type 0 the list never
    contains the home item; the link puts home (or a placeholder) at seq 0.
    """

    command: int
    frame: int = FRAME_GLOBAL_RELATIVE_ALT
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    lat_deg: float = 0.0
    lon_deg: float = 0.0
    alt_m: float = 0.0
    autocontinue: bool = True
    mission_type: int = MISSION

    def __post_init__(self) -> None:
        values = (self.param1, self.param2, self.param3, self.param4,
                  self.lat_deg, self.lon_deg, self.alt_m)
        if not all(math.isfinite(v) for v in values):
            raise MissionError(f"mission item {self.command} has a NaN or infinite value: {self}")
        if not -90.0 <= self.lat_deg <= 90.0 or not -180.0 <= self.lon_deg <= 180.0:
            raise MissionError(
                f"mission item {self.command} has lat/lon out of range "
                f"({self.lat_deg}, {self.lon_deg}); MAVLink order is (lat, lon)"
            )


# --------------------------------------------------------------------------------------------
# Capacity (ArduCopter 4.7 defaults, measured on SITL)

#: Largest MISSION_COUNT ArduCopter 4.7 accepts with default storage. MISSION_COUNT counts
#: home at seq 0, so a mission list (which never holds home) may have ``MAX_MISSION_ITEMS - 1``
#: items. The 651st item is refused with MAV_MISSION_NO_SPACE; ``BRD_SD_MISSION`` raises it.
MAX_MISSION_ITEMS = 650

#: Largest fence item count ArduCopter 4.7 accepts (70 is refused); ``BRD_SD_FENCE`` raises it.
MAX_FENCE_ITEMS = 69

#: Metres added to the simplification tolerance so that rounding coordinates to 1e-7 degree
#: (about 1 cm, MISSION_ITEM_INT) cannot undo the conservative direction of a simplified fence.
_FENCE_ROUNDING_MARGIN_M = 0.05

End = Literal["rtl", "land", "none"]
LonLat = tuple[float, float]


@dataclass(frozen=True, kw_only=True)
class Trigger:
    """A DO command inserted into a route just before the NAV_WAYPOINT ``before_waypoint``.

    ArduPilot runs the DO items that sit between two NAV items as soon as the earlier NAV
    item completes (after its hold time), while the vehicle sets off for the next one; DO
    items do not block. So a trigger with ``before_waypoint=i`` fires when the vehicle
    leaves waypoint ``i - 1`` (or finishes the takeoff climb for ``i = 0``), on its way to
    waypoint ``i``. ``before_waypoint`` equal to the number of waypoints fires when the last
    waypoint completes, before RTL/LAND.

    For DO_SEND_SCRIPT_MESSAGE (the default) ``param1`` is the uint16 message id handed to
    the Lua script by ``mission_receive()``, ``param2``..``param4`` are free floats.
    """

    before_waypoint: int
    command: int = DO_SEND_SCRIPT_MESSAGE
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.before_waypoint, bool) or not isinstance(self.before_waypoint, int):
            raise MissionError(
                f"Trigger.before_waypoint must be an int, got {self.before_waypoint!r}"
            )
        if self.before_waypoint < 0:
            raise MissionError(
                f"Trigger.before_waypoint must be >= 0 (an index into the waypoints), "
                f"got {self.before_waypoint}"
            )
        if not 0 < self.command < 65536:
            raise MissionError(f"Trigger.command must be a MAV_CMD in 1..65535, got {self.command}")
        for name in ("param1", "param2", "param3", "param4"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise MissionError(f"Trigger.{name} must be finite, got {value!r}")
        if self.command == DO_SEND_SCRIPT_MESSAGE and not (
            0 <= self.param1 <= 65535 and float(self.param1).is_integer()
        ):
            raise MissionError(
                f"DO_SEND_SCRIPT_MESSAGE param1 is a uint16 message id, got {self.param1!r}"
            )


# --------------------------------------------------------------------------------------------
# Validation helpers: the one place where (lon, lat) becomes (lat, lon)


def _finite(value: float, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MissionError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise MissionError(f"{what} must be finite, got {value!r}")
    return v


def _latlon(point: Sequence[float], what: str) -> tuple[float, float]:
    """Check one (lon, lat) point and return it as (lat, lon) for MAVLink."""
    try:
        n = len(point)
    except TypeError:
        raise MissionError(f"{what} must be a (lon, lat) pair, got {point!r}") from None
    if n != 2:
        raise MissionError(f"{what} must be a (lon, lat) pair, got {point!r}")
    lon = _finite(point[0], f"{what} longitude")
    lat = _finite(point[1], f"{what} latitude")
    if not -180.0 <= lon <= 180.0:
        raise MissionError(
            f"{what} longitude {lon} is outside [-180, 180]; points are (lon, lat) in degrees"
        )
    if not -90.0 <= lat <= 90.0:
        raise MissionError(
            f"{what} latitude {lat} is outside [-90, 90]; points are (lon, lat) in degrees "
            "(did you pass (lat, lon)?)"
        )
    return lat, lon


def _positive(value: float, what: str) -> float:
    v = _finite(value, what)
    if v <= 0.0:
        raise MissionError(f"{what} must be > 0, got {v}")
    return v


# --------------------------------------------------------------------------------------------
# Route missions


def route_mission(
    waypoints_lonlat: Sequence[LonLat],
    *,
    altitude_m: float,
    speed_mps: float | None = None,
    takeoff_altitude_m: float | None = None,
    end: End = "rtl",
    hold_s: Sequence[float] | None = None,
    triggers: Sequence[Trigger] = (),
) -> list[MissionItem]:
    """Mission items (without home) flying ``waypoints_lonlat`` at ``altitude_m`` above home.

    The list is NAV_TAKEOFF (ArduCopter refuses AUTO without it: "Missing Takeoff Cmd"),
    DO_CHANGE_SPEED if ``speed_mps`` is given, one NAV_WAYPOINT per point (``hold_s[i]``
    seconds of hold in param1) with each :class:`Trigger` inserted just before its
    waypoint, then NAV_RETURN_TO_LAUNCH (``end="rtl"``), NAV_LAND at the current position
    (``"land"``) or nothing (``"none"``).

    >>> items = route_mission([(113.8, 34.0), (113.81, 34.0)], altitude_m=30)
    >>> [i.command for i in items], items[1].lat_deg, items[1].lon_deg
    ([22, 16, 16, 20], 34.0, 113.8)
    """
    points = list(waypoints_lonlat)
    if not points:
        raise MissionError("route_mission: the route has no waypoints; give at least one")
    latlons = [_latlon(p, f"route_mission: waypoint {i}") for i, p in enumerate(points)]
    alt = _positive(altitude_m, "route_mission: altitude_m")
    takeoff_alt = (
        alt
        if takeoff_altitude_m is None
        else _positive(takeoff_altitude_m, "route_mission: takeoff_altitude_m")
    )
    if end not in ("rtl", "land", "none"):
        raise MissionError(f"route_mission: end must be 'rtl', 'land' or 'none', got {end!r}")
    holds = [0.0] * len(points)
    if hold_s is not None:
        if len(hold_s) != len(points):
            raise MissionError(
                f"route_mission: hold_s has {len(hold_s)} values for {len(points)} waypoints; "
                "give one hold time per waypoint (0 for none)"
            )
        holds = [_finite(h, f"route_mission: hold_s[{i}]") for i, h in enumerate(hold_s)]
        for i, h in enumerate(holds):
            if h < 0:
                raise MissionError(f"route_mission: hold_s[{i}] must be >= 0 s, got {h}")
    by_index: dict[int, list[Trigger]] = {}
    for t in triggers:
        if not isinstance(t, Trigger):
            raise MissionError(f"route_mission: triggers must be Trigger objects, got {t!r}")
        if t.before_waypoint > len(points):
            raise MissionError(
                f"route_mission: a trigger is placed before waypoint {t.before_waypoint} but "
                f"the route has {len(points)} waypoints (valid: 0..{len(points)})"
            )
        by_index.setdefault(t.before_waypoint, []).append(t)

    items = [MissionItem(command=NAV_TAKEOFF, alt_m=takeoff_alt)]
    if speed_mps is not None:
        speed = _positive(speed_mps, "route_mission: speed_mps")
        # p1 1 = ground speed, p2 m/s, p3 -1 = leave throttle unchanged
        items.append(
            MissionItem(command=DO_CHANGE_SPEED, frame=FRAME_MISSION, param1=1.0,
                        param2=speed, param3=-1.0)
        )
    for i, ((lat, lon), hold) in enumerate(zip(latlons, holds, strict=True)):
        items.extend(_trigger_item(t) for t in by_index.get(i, ()))
        items.append(
            MissionItem(command=NAV_WAYPOINT, param1=hold, lat_deg=lat, lon_deg=lon, alt_m=alt)
        )
    items.extend(_trigger_item(t) for t in by_index.get(len(points), ()))
    if end == "rtl":
        items.append(MissionItem(command=NAV_RETURN_TO_LAUNCH, frame=FRAME_MISSION))
    elif end == "land":
        # lat/lon 0: land where the vehicle is (after the last waypoint)
        items.append(MissionItem(command=NAV_LAND))
    return items


def _trigger_item(t: Trigger) -> MissionItem:
    return MissionItem(command=t.command, frame=FRAME_MISSION, param1=t.param1,
                       param2=t.param2, param3=t.param3, param4=t.param4)


def check_capacity(items: Sequence[MissionItem], max_items: int = MAX_MISSION_ITEMS) -> None:
    """Raise :class:`MissionError` if ``items`` plus home exceed ``max_items`` (MISSION_COUNT)."""
    if len(items) + 1 > max_items:
        raise MissionError(
            f"mission has {len(items)} items + home = {len(items) + 1}, the vehicle stores "
            f"{max_items} (ArduCopter refuses the upload at MISSION_COUNT); split the route "
            "with split_for_capacity() or set BRD_SD_MISSION to store missions on the SD card"
        )


def split_for_capacity(
    waypoints_lonlat: Sequence[LonLat],
    max_items: int = MAX_MISSION_ITEMS,
    *,
    speed_mps: float | None = None,
    end: End = "rtl",
    items_per_waypoint: int = 1,
) -> list[list[LonLat]]:
    """Split a route into sorties whose :func:`route_mission` fits ``max_items`` (incl. home).

    Consecutive sorties share their boundary waypoint (a sortie starts where the previous
    one ended) so every leg of the route is flown. Each sortie costs home + takeoff
    (+ DO_CHANGE_SPEED if ``speed_mps``) (+ RTL/LAND unless ``end="none"``) plus
    ``items_per_waypoint`` per waypoint (2 if every waypoint carries one trigger).

    >>> route = [(113.8 + i * 1e-4, 34.0) for i in range(10)]
    >>> [len(s) for s in split_for_capacity(route, 8)]
    [5, 5, 2]
    """
    points = list(waypoints_lonlat)
    if not points:
        raise MissionError("split_for_capacity: the route has no waypoints")
    for i, p in enumerate(points):
        _latlon(p, f"split_for_capacity: waypoint {i}")
    if items_per_waypoint < 1:
        raise MissionError(
            f"split_for_capacity: items_per_waypoint must be >= 1, got {items_per_waypoint}"
        )
    overhead = 2 + (speed_mps is not None) + (end != "none")
    per_sortie = (max_items - overhead) // items_per_waypoint
    if len(points) <= per_sortie:
        return [points]
    if per_sortie < 2:
        raise MissionError(
            f"split_for_capacity: max_items={max_items} leaves room for {max(per_sortie, 0)} "
            f"waypoint(s) per sortie after {overhead} fixed items (home, takeoff, speed, end) "
            f"at {items_per_waypoint} item(s) per waypoint; at least 2 are needed to make "
            "progress. Raise max_items (BRD_SD_MISSION) or drop triggers."
        )
    sorties: list[list[LonLat]] = []
    start = 0
    while True:
        stop = min(start + per_sortie, len(points))
        sorties.append(points[start:stop])
        if stop == len(points):
            return sorties
        start = stop - 1  # share the boundary waypoint


# --------------------------------------------------------------------------------------------
# Geofence


def _polygon_lonlat(
    ring: Sequence[LonLat] | None, what: str
) -> list[tuple[float, float]]:
    if ring is None:
        raise MissionError(f"{what} is None")
    pts = [(_latlon(p, f"{what} vertex {i}")) for i, p in enumerate(ring)]
    lonlat = [(lon, lat) for lat, lon in pts]
    if len(lonlat) > 1 and lonlat[0] == lonlat[-1]:
        lonlat = lonlat[:-1]  # drop the closing duplicate, ArduPilot wants none
    distinct = {p for p in lonlat}
    if len(distinct) < 3:
        raise MissionError(
            f"{what} has {len(distinct)} distinct vertices; a fence polygon needs at least 3"
        )
    return lonlat


def _ring_coords(poly: Polygon) -> list[tuple[float, float]]:
    coords = [(float(x), float(y)) for x, y in poly.exterior.coords]
    return coords[:-1]


def fence_items(
    inclusion_lonlat: Sequence[LonLat] | None,
    exclusions_lonlat: Sequence[Sequence[LonLat]] = (),
    *,
    return_point_lonlat: LonLat | None = None,
    max_items: int = MAX_FENCE_ITEMS,
) -> list[MissionItem]:
    """Fence items (mission_type FENCE) for an inclusion polygon and exclusion polygons.

    One NAV_FENCE_POLYGON_VERTEX_INCLUSION/EXCLUSION item per vertex, param1 = the
    polygon's vertex count, no closing duplicate; the optional NAV_FENCE_RETURN_POINT
    comes first. Winding does not matter; self-intersecting polygons are refused.

    If the items exceed ``max_items`` the polygons are simplified *conservatively* in a
    local metric frame, with one distance tolerance for all of them, increased until they
    fit: exclusion polygons only grow (the simplified one contains the original) and the
    inclusion polygon only shrinks (the original contains the simplified one). A
    :class:`DronePatrolWarning` says how far they moved. If even that cannot fit (each
    polygon needs at least 3 items), :class:`MissionError` says how many are needed.
    """
    polys: list[tuple[bool, list[tuple[float, float]]]] = []
    if inclusion_lonlat is not None:
        polys.append((True, _polygon_lonlat(inclusion_lonlat, "fence_items: inclusion polygon")))
    for k, ring in enumerate(exclusions_lonlat):
        polys.append((False, _polygon_lonlat(ring, f"fence_items: exclusion polygon {k}")))
    ret: tuple[float, float] | None = None
    if return_point_lonlat is not None:
        ret = _latlon(return_point_lonlat, "fence_items: return point")
    if max_items < 1:
        raise MissionError(f"fence_items: max_items must be >= 1, got {max_items}")
    n_fixed = 1 if ret is not None else 0
    minimum = n_fixed + 3 * len(polys)
    if minimum > max_items:
        raise MissionError(
            f"fence_items: {len(polys)} polygons need at least {minimum} fence items "
            f"(3 per polygon{' + 1 return point' if ret else ''}) but the vehicle stores "
            f"{max_items}; raise BRD_SD_FENCE to store the fence on the SD card, or merge "
            "nearby no-fly areas into fewer exclusion polygons"
        )

    all_lon = [p[0] for _, ring in polys for p in ring]
    all_lat = [p[1] for _, ring in polys for p in ring]
    if ret is not None:
        all_lon.append(ret[1])
        all_lat.append(ret[0])
    frame: LocalFrame | None = None
    if all_lon:
        try:
            frame = LocalFrame.for_lonlat(all_lon, all_lat, what="geofence")
        except FrameError as exc:
            raise MissionError(f"fence_items: {exc}") from exc
    local: list[tuple[bool, Polygon]] = []
    for k, (inclusion, ring) in enumerate(polys):
        assert frame is not None
        poly = Polygon(frame.xy_to_local(ring))
        if not poly.is_valid or poly.area <= 0.0:
            index = k - (inclusion_lonlat is not None)
            name = "inclusion polygon" if inclusion else f"exclusion polygon {index}"
            raise MissionError(
                f"fence_items: {name} is not a simple polygon ({shapely.is_valid_reason(poly)}); "
                "fence polygons must not cross themselves or have zero area"
            )
        local.append((inclusion, poly))

    total = n_fixed + sum(len(ring) for _, ring in polys)
    out_polys: list[tuple[bool, list[tuple[float, float]]]] = polys
    if total > max_items:
        assert frame is not None
        out_polys = _simplify_to_fit(local, polys, frame, max_items - n_fixed)

    items: list[MissionItem] = []
    if ret is not None:
        items.append(MissionItem(command=NAV_FENCE_RETURN_POINT, frame=FRAME_GLOBAL,
                                 lat_deg=ret[0], lon_deg=ret[1], mission_type=FENCE))
    for inclusion, ring in out_polys:
        cmd = (NAV_FENCE_POLYGON_VERTEX_INCLUSION if inclusion
               else NAV_FENCE_POLYGON_VERTEX_EXCLUSION)
        for lon, lat in ring:
            lat_q, lon_q = _latlon((lon, lat), "fence_items: simplified vertex")
            items.append(MissionItem(command=cmd, frame=FRAME_GLOBAL, param1=float(len(ring)),
                                     lat_deg=lat_q, lon_deg=lon_q, mission_type=FENCE))
    return items


def _simplify_one(poly: Polygon, inclusion: bool, tol_m: float) -> Polygon | None:
    """One conservative simplification at ``tol_m``, or None if it fails at this tolerance."""
    offset = tol_m + _FENCE_ROUNDING_MARGIN_M
    grown = poly.buffer(-offset if inclusion else offset, join_style="mitre", mitre_limit=2.0)
    if grown.is_empty:
        return None
    if grown.geom_type == "MultiPolygon":
        if not inclusion:
            return None
        grown = max(grown.geoms, key=lambda g: g.area)  # a shrunk fence may lose thin parts
    simple = shapely.simplify(grown, tol_m, preserve_topology=True)
    if simple.is_empty or simple.geom_type != "Polygon":
        return None
    simple = Polygon(simple.exterior)  # holes are not representable in a fence
    if not simple.is_valid or len(simple.exterior.coords) - 1 < 3:
        return None
    return simple


def _quantize(frame: LocalFrame, poly: Polygon) -> tuple[list[tuple[float, float]], Polygon]:
    """Vertices in (lon, lat) rounded to 1e-7 degree (MISSION_ITEM_INT) and the polygon back."""
    lonlat = frame.xy_to_lonlat(_ring_coords(poly))
    ring = [(round(float(lon), 7), round(float(lat), 7)) for lon, lat in lonlat]
    back = Polygon(frame.xy_to_local(ring))
    return ring, back


def _simplify_to_fit(
    local: list[tuple[bool, Polygon]],
    lonlat: list[tuple[bool, list[tuple[float, float]]]],
    frame: LocalFrame,
    budget: int,
) -> list[tuple[bool, list[tuple[float, float]]]]:
    """Simplify all polygons with one growing tolerance until their vertices fit ``budget``.

    The direction (exclusions grow, inclusion shrinks) is checked on the rounded vertices in
    the metric frame and in the plane of (lon, lat) degrees, in which ArduPilot draws fence
    edges as straight lines (up to a linear scale).
    """
    originals_ll = [Polygon(ring) for _, ring in lonlat]
    extent = max(max(p.bounds[2] - p.bounds[0], p.bounds[3] - p.bounds[1]) for _, p in local)
    tol = 0.1
    best_needed: int | None = None
    while tol <= 2.0 * extent:
        result: list[tuple[bool, list[tuple[float, float]]]] = []
        moved = 0.0
        ok = True
        for (inclusion, poly), poly_ll in zip(local, originals_ll, strict=True):
            simple = _simplify_one(poly, inclusion, tol)
            if simple is None:
                ok = False
                break
            ring, back = _quantize(frame, simple)
            back_ll = Polygon(ring)
            if inclusion:
                conservative = back.within(poly) and back_ll.within(poly_ll)
            else:
                conservative = poly.within(back) and poly_ll.within(back_ll)
            if not conservative or not back.is_valid:
                ok = False
                break
            moved = max(moved, poly.hausdorff_distance(back))
            result.append((inclusion, ring))
        if ok:
            needed = sum(len(r) for _, r in result)
            best_needed = needed if best_needed is None else min(best_needed, needed)
            if needed <= budget:
                warnings.warn(
                    f"fence simplified to fit {budget} vertex items: tolerance {tol:.1f} m, "
                    f"polygon edges moved by up to {moved:.1f} m (exclusions grew, the "
                    "inclusion shrank); raise BRD_SD_FENCE to keep the full detail",
                    DronePatrolWarning,
                    stacklevel=3,
                )
                return result
        tol *= 1.25
    raise MissionError(
        f"fence_items: the fence cannot be simplified conservatively into {budget} vertex items "
        f"(best found: {best_needed if best_needed is not None else 'none'}); raise "
        "BRD_SD_FENCE to store the fence on the SD card, or merge nearby no-fly areas"
    )


# --------------------------------------------------------------------------------------------
# Rally points


def rally_items(points_lonlat: Sequence[LonLat], *, altitude_m: float) -> list[MissionItem]:
    """NAV_RALLY_POINT items (mission_type RALLY) at ``altitude_m`` above home."""
    alt = _positive(altitude_m, "rally_items: altitude_m")
    return [
        MissionItem(command=NAV_RALLY_POINT, lat_deg=lat, lon_deg=lon, alt_m=alt,
                    mission_type=RALLY)
        for lat, lon in (_latlon(p, f"rally_items: point {i}") for i, p in enumerate(points_lonlat))
    ]


# --------------------------------------------------------------------------------------------
# QGC WPL 110 files

_WPL_HEADER = "QGC WPL 110"


def _wpl_line(seq: int, current: int, item: MissionItem) -> str:
    return (
        f"{seq}\t{current}\t{item.frame}\t{item.command}\t"
        f"{item.param1:.8f}\t{item.param2:.8f}\t{item.param3:.8f}\t{item.param4:.8f}\t"
        f"{item.lat_deg:.8f}\t{item.lon_deg:.8f}\t{item.alt_m:.6f}\t{int(item.autocontinue)}\n"
    )


def _write_text(path: str | os.PathLike[str], text: str) -> None:
    try:
        Path(path).write_text(text, encoding="ascii", newline="\n")
    except OSError as exc:
        raise MissionError(f"cannot write {os.fspath(path)}: {exc.strerror}") from exc


def _check_type(items: Sequence[MissionItem], mission_type: int, what: str) -> None:
    for i, item in enumerate(items):
        if not isinstance(item, MissionItem):
            raise MissionError(f"{what}: item {i} is not a MissionItem: {item!r}")
        if item.mission_type != mission_type:
            raise MissionError(
                f"{what}: item {i} (command {item.command}) has mission_type "
                f"{item.mission_type}, expected {mission_type}"
            )


def write_waypoints(
    path: str | os.PathLike[str],
    items: Sequence[MissionItem],
    home_latlon_alt: tuple[float, float, float],
) -> None:
    """Write a QGC WPL 110 mission file: home (lat, lon, AMSL alt) on line 0, then ``items``."""
    _check_type(items, MISSION, "write_waypoints")
    if len(home_latlon_alt) != 3:
        raise MissionError(
            f"write_waypoints: home must be (lat, lon, alt_m), got {home_latlon_alt!r}"
        )
    lat, lon, alt = (_finite(v, "write_waypoints: home") for v in home_latlon_alt)
    home = MissionItem(command=NAV_WAYPOINT, frame=FRAME_GLOBAL, lat_deg=lat, lon_deg=lon,
                       alt_m=alt)
    lines = [_WPL_HEADER + "\n", _wpl_line(0, 1, home)]
    lines += [_wpl_line(seq, 0, item) for seq, item in enumerate(items, start=1)]
    _write_text(path, "".join(lines))


def _read_wpl(path: str | os.PathLike[str], mission_type: int) -> list[MissionItem]:
    name = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MissionError(f"cannot read {name}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise MissionError(f"{name} is not a text file: {exc}") from exc
    lines = text.splitlines()
    if not lines or lines[0].strip() != _WPL_HEADER:
        first = lines[0].strip() if lines else ""
        raise MissionError(f"{name}: first line is {first!r}, expected {_WPL_HEADER!r}")
    items: list[MissionItem] = []
    for lineno, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cols = line.split()
        if len(cols) != 12:
            raise MissionError(
                f"{name}:{lineno}: expected 12 tab-separated columns, got {len(cols)}"
            )
        try:
            seq, _current, frame, command = (int(c) for c in cols[:4])
            p1, p2, p3, p4, lat, lon, alt = (float(c) for c in cols[4:11])
            autocontinue = int(cols[11])
        except ValueError as exc:
            raise MissionError(f"{name}:{lineno}: {exc}") from None
        if seq != len(items):
            raise MissionError(f"{name}:{lineno}: sequence number {seq}, expected {len(items)}")
        try:
            items.append(MissionItem(command=command, frame=frame, param1=p1, param2=p2,
                                     param3=p3, param4=p4, lat_deg=lat, lon_deg=lon, alt_m=alt,
                                     autocontinue=bool(autocontinue), mission_type=mission_type))
        except MissionError as exc:
            raise MissionError(f"{name}:{lineno}: {exc}") from None
    return items


def read_waypoints(
    path: str | os.PathLike[str],
) -> tuple[tuple[float, float, float], list[MissionItem]]:
    """Read a QGC WPL 110 mission file: ((lat, lon, alt) of home, items after home)."""
    items = _read_wpl(path, MISSION)
    if not items:
        raise MissionError(f"{os.fspath(path)}: no home line (seq 0) in the mission file")
    home = items[0]
    return (home.lat_deg, home.lon_deg, home.alt_m), items[1:]


def _items_file_text(items: Sequence[MissionItem]) -> str:
    return _WPL_HEADER + "\n" + "".join(_wpl_line(s, 0, it) for s, it in enumerate(items))


def write_fence(path: str | os.PathLike[str], items: Sequence[MissionItem]) -> None:
    """Write fence items as QGC WPL 110 without a home line (MAVProxy ``fence load``)."""
    _check_type(items, FENCE, "write_fence")
    _write_text(path, _items_file_text(items))


def read_fence(path: str | os.PathLike[str]) -> list[MissionItem]:
    """Read a fence file written by :func:`write_fence` (or MAVProxy ``fence save``)."""
    return _read_wpl(path, FENCE)


def write_rally(path: str | os.PathLike[str], items: Sequence[MissionItem]) -> None:
    """Write rally items as QGC WPL 110 without a home line (MAVProxy ``rally load``)."""
    _check_type(items, RALLY, "write_rally")
    _write_text(path, _items_file_text(items))


def read_rally(path: str | os.PathLike[str]) -> list[MissionItem]:
    """Read a rally file written by :func:`write_rally` (or MAVProxy ``rally save``)."""
    return _read_wpl(path, RALLY)


# --------------------------------------------------------------------------------------------
# QGroundControl .plan

#: MAV_AUTOPILOT_ARDUPILOTMEGA and MAV_TYPE_QUADROTOR, written into .plan files.
PLAN_FIRMWARE_TYPE = 3
PLAN_VEHICLE_TYPE = 2
#: Commands whose item carries an altitude in QGC's editor (Altitude/AltitudeMode keys).
_PLAN_ALTITUDE_COMMANDS = frozenset({NAV_WAYPOINT, NAV_LOITER_TIME, NAV_LAND, NAV_TAKEOFF})


@dataclass(frozen=True, kw_only=True)
class Plan:
    """The content of a QGroundControl ``.plan`` file; home is (lat, lon, AMSL alt)."""

    home_latlon_alt: tuple[float, float, float]
    mission: list[MissionItem] = field(default_factory=list)
    fence: list[MissionItem] = field(default_factory=list)
    rally: list[MissionItem] = field(default_factory=list)
    cruise_speed_mps: float = 15.0
    hover_speed_mps: float = 5.0


def _json_number(v: float) -> float | int | None:
    if not math.isfinite(v):
        return None
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else v


def _plan_item(item: MissionItem, jump_id: int) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "autoContinue": item.autocontinue,
        "command": item.command,
        "doJumpId": jump_id,
        "frame": item.frame,
        "params": [_json_number(v) for v in (item.param1, item.param2, item.param3,
                                              item.param4, item.lat_deg, item.lon_deg,
                                              item.alt_m)],
        "type": "SimpleItem",
    }
    if item.command in _PLAN_ALTITUDE_COMMANDS:
        obj["AMSLAltAboveTerrain"] = None
        obj["Altitude"] = _json_number(item.alt_m)
        obj["AltitudeMode"] = 1  # relative to home (frame 3); 2 would be AMSL
    return obj


def _fence_polygons(
    items: Sequence[MissionItem],
) -> tuple[list[dict[str, Any]], list[float | int | None] | None]:
    polygons: list[dict[str, Any]] = []
    breach: list[float | int | None] | None = None
    i = 0
    while i < len(items):
        item = items[i]
        if item.command == NAV_FENCE_RETURN_POINT:
            breach = [_json_number(v) for v in (item.lat_deg, item.lon_deg, item.alt_m)]
            i += 1
            continue
        if item.command not in (NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                                NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
            raise MissionError(
                f"write_plan: fence item {i} has command {item.command}; only polygon vertices "
                "and the return point can be written to a .plan"
            )
        n = int(item.param1)
        group = list(items[i:i + n])
        if n < 3 or len(group) != n or any(
            g.command != item.command or int(g.param1) != n for g in group
        ):
            raise MissionError(
                f"write_plan: fence items {i}..{i + n - 1} do not form one polygon of "
                f"{n} vertices (param1 must be the vertex count of consecutive vertices)"
            )
        polygons.append({
            "inclusion": item.command == NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            "polygon": [[_json_number(g.lat_deg), _json_number(g.lon_deg)] for g in group],
            "version": 1,
        })
        i += n
    return polygons, breach


def write_plan(
    path: str | os.PathLike[str],
    mission_items: Sequence[MissionItem],
    *,
    home_latlon_alt: tuple[float, float, float],
    fence: Sequence[MissionItem] = (),
    rally: Sequence[MissionItem] = (),
    cruise_speed_mps: float = 15.0,
    hover_speed_mps: float = 5.0,
) -> None:
    """Write a QGroundControl ``.plan`` (JSON, keys sorted and 4-space indent as QGC saves)."""
    _check_type(mission_items, MISSION, "write_plan mission")
    _check_type(fence, FENCE, "write_plan fence")
    _check_type(rally, RALLY, "write_plan rally")
    if not mission_items:
        raise MissionError("write_plan: a .plan needs at least one mission item")
    if len(home_latlon_alt) != 3:
        raise MissionError(f"write_plan: home must be (lat, lon, alt_m), got {home_latlon_alt!r}")
    home = [_finite(v, "write_plan: home") for v in home_latlon_alt]
    polygons, breach = _fence_polygons(fence)
    cruise = _positive(cruise_speed_mps, "write_plan: cruise_speed_mps")
    hover = _positive(hover_speed_mps, "write_plan: hover_speed_mps")
    geofence: dict[str, Any] = {"circles": [], "polygons": polygons, "version": 2}
    if breach is not None:
        geofence["breachReturn"] = breach
    doc = {
        "fileType": "Plan",
        "geoFence": geofence,
        "groundStation": "QGroundControl",
        "mission": {
            "cruiseSpeed": _json_number(cruise),
            "firmwareType": PLAN_FIRMWARE_TYPE,
            "globalPlanAltitudeMode": 1,
            "hoverSpeed": _json_number(hover),
            "items": [_plan_item(it, n) for n, it in enumerate(mission_items, start=1)],
            "plannedHomePosition": [_json_number(v) for v in home],
            "vehicleType": PLAN_VEHICLE_TYPE,
            "version": 2,
        },
        "rallyPoints": {
            "points": [[_json_number(v) for v in (r.lat_deg, r.lon_deg, r.alt_m)] for r in rally],
            "version": 2,
        },
        "version": 1,
    }
    _write_text(path, json.dumps(doc, indent=4, sort_keys=True, allow_nan=False) + "\n")


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise MissionError(f"{where}: missing key {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise MissionError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _num(v: Any, where: str) -> float:
    if v is None:
        return 0.0  # QGC writes NaN ("use default") as null; MissionItem has no NaN
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise MissionError(f"{where}: expected a number, got {v!r}")
    return float(v)


def read_plan(path: str | os.PathLike[str]) -> Plan:
    """Read a QGroundControl ``.plan``: SimpleItems, polygon fences and rally points.

    ``null`` parameters (QGC's NaN, "use the default") read as 0. Complex items (survey,
    corridor, structure scan) and circle fences are refused with :class:`MissionError`.
    """
    name = os.fspath(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MissionError(f"cannot read {name}: {exc.strerror}") from exc
    except ValueError as exc:
        raise MissionError(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("fileType") != "Plan":
        raise MissionError(f"{name}: not a QGroundControl plan (fileType must be 'Plan')")
    mission = _get(doc, "mission", dict, name)
    home_raw = _get(mission, "plannedHomePosition", list, f"{name} mission")
    if len(home_raw) != 3:
        raise MissionError(f"{name}: plannedHomePosition must be [lat, lon, alt]")
    home = tuple(_num(v, f"{name} plannedHomePosition") for v in home_raw)
    items: list[MissionItem] = []
    for n, obj in enumerate(_get(mission, "items", list, f"{name} mission")):
        where = f"{name} mission item {n}"
        if not isinstance(obj, dict) or obj.get("type") != "SimpleItem":
            kind = obj.get("complexItemType", obj.get("type")) if isinstance(obj, dict) else obj
            raise MissionError(
                f"{where}: only SimpleItem is supported, got {kind!r}; convert complex items "
                "to waypoints in QGroundControl first"
            )
        params = _get(obj, "params", list, where)
        if len(params) != 7:
            raise MissionError(f"{where}: params must hold 7 values, got {len(params)}")
        p = [_num(v, where) for v in params]
        try:
            items.append(MissionItem(
                command=_get(obj, "command", int, where), frame=_get(obj, "frame", int, where),
                param1=p[0], param2=p[1], param3=p[2], param4=p[3], lat_deg=p[4],
                lon_deg=p[5], alt_m=p[6], autocontinue=bool(obj.get("autoContinue", True)),
            ))
        except MissionError as exc:
            raise MissionError(f"{where}: {exc}") from None
    fence: list[MissionItem] = []
    geofence = doc.get("geoFence", {"polygons": [], "circles": []})
    if geofence.get("circles"):
        raise MissionError(f"{name}: circle fences are not supported; draw them as polygons")
    breach = geofence.get("breachReturn")
    if breach is not None:
        if not isinstance(breach, list) or len(breach) < 2:
            raise MissionError(f"{name}: breachReturn must be [lat, lon, alt]")
        b = [_num(v, f"{name} breachReturn") for v in breach]
        fence.append(MissionItem(command=NAV_FENCE_RETURN_POINT, frame=FRAME_GLOBAL,
                                 lat_deg=b[0], lon_deg=b[1], alt_m=b[2] if len(b) > 2 else 0.0,
                                 mission_type=FENCE))
    for k, poly in enumerate(geofence.get("polygons", [])):
        where = f"{name} geoFence polygon {k}"
        verts = _get(poly, "polygon", list, where)
        cmd = (NAV_FENCE_POLYGON_VERTEX_INCLUSION if _get(poly, "inclusion", bool, where)
               else NAV_FENCE_POLYGON_VERTEX_EXCLUSION)
        if len(verts) < 3:
            raise MissionError(f"{where}: has {len(verts)} vertices, a polygon needs 3")
        for v in verts:
            if not isinstance(v, list) or len(v) != 2:
                raise MissionError(f"{where}: vertices must be [lat, lon], got {v!r}")
            fence.append(MissionItem(command=cmd, frame=FRAME_GLOBAL, param1=float(len(verts)),
                                     lat_deg=_num(v[0], where), lon_deg=_num(v[1], where),
                                     mission_type=FENCE))
    rally: list[MissionItem] = []
    for v in doc.get("rallyPoints", {}).get("points", []):
        if not isinstance(v, list) or len(v) != 3:
            raise MissionError(f"{name}: rally points must be [lat, lon, alt], got {v!r}")
        rally.append(MissionItem(command=NAV_RALLY_POINT, lat_deg=_num(v[0], name),
                                 lon_deg=_num(v[1], name), alt_m=_num(v[2], name),
                                 mission_type=RALLY))
    return Plan(
        home_latlon_alt=(home[0], home[1], home[2]),
        mission=items, fence=fence, rally=rally,
        cruise_speed_mps=_num(mission.get("cruiseSpeed", 15.0), name),
        hover_speed_mps=_num(mission.get("hoverSpeed", 5.0), name),
    )
