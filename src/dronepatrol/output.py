"""Write a patrol plan to a directory: routes, summary, mission/fence/rally files.

Layout of ``DIR`` (what ``dronepatrol plan`` writes):

* ``routes.geojson``: one LineString feature per route (lon, lat), with ``route``,
  ``length_m``, ``duration_s``, ``zones``, ``altitude_m``, ``speed_mps``;
* ``summary.json``: per zone its name, kind, ``area_m2``, ``covered_fraction``, path length,
  and the uncoverable zones with the reason;
* ``<route>.plan`` (QGroundControl) and ``<route>.waypoints`` (QGC WPL 110), with
  ``<route>.fence.waypoints`` and ``<route>.rally.waypoints`` beside them;
* ``geofence.geojson``: the inclusion polygon and the no-fly exclusion polygons as flown.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Polygon, mapping

from dronepatrol import mission as ms
from dronepatrol.errors import DronePatrolError, MissionError
from dronepatrol.plan import PatrolPlan
from dronepatrol.route import Route

#: Margin of the inclusion fence around the operating area, metres.
FENCE_MARGIN_M = 300.0


def _round_list(values: Any, ndigits: int = 7) -> Any:
    return [[round(float(a), ndigits), round(float(b), ndigits)] for a, b in values]


def inclusion_polygon_local(plan: PatrolPlan, routes: Sequence[Route] | None = None) -> Polygon:
    """The inclusion geofence in the local frame: convex hull of every patrol zone, base and
    route waypoint (transits may bend round no-fly areas outside the zones), plus a margin."""
    geoms = [plan.frame.geometry_to_local(z.geometry) for z in plan.zoneset.patrol_zones]
    pts = [plan.base_xy(b.name) for b in plan.bases]
    for r in (plan.routes if routes is None else routes):
        pts.extend((float(x), float(y)) for x, y in r.waypoints_xy)
    hull = shapely.union_all([*geoms, MultiPoint(pts)]).convex_hull
    return hull.buffer(FENCE_MARGIN_M, quad_segs=4)  # type: ignore[no-any-return]


def fence_and_rally(
    plan: PatrolPlan, *, max_fence_items: int = ms.MAX_FENCE_ITEMS,
    routes: Sequence[Route] | None = None,
) -> tuple[list[ms.MissionItem], list[ms.MissionItem]]:
    """Fence items (inclusion around the area, exclusion per no-fly area) and rally items."""
    inc = plan.frame.geometry_to_lonlat(inclusion_polygon_local(plan, routes))
    inclusion = list(inc.exterior.coords)[:-1]
    exclusions = [list(plan.frame.geometry_to_lonlat(p).exterior.coords)[:-1]
                  for p in plan.no_fly_local]
    fence = ms.fence_items(inclusion, exclusions, max_items=max_fence_items)
    rally = ms.rally_items([(b.lon_deg, b.lat_deg) for b in plan.bases],
                           altitude_m=plan.options.altitude_m)
    return fence, rally


def route_items(
    plan: PatrolPlan, route: Route, triggers: Sequence[ms.Trigger] = ()
) -> list[ms.MissionItem]:
    """Mission items for one route: takeoff, speed, waypoints (each at its altitude), land.

    Route waypoint 0 is the base, where the takeoff climbs; route waypoint ``i >= 1`` is
    mission waypoint ``i - 1``. ``triggers`` (e.g. broadcast DO_SEND_SCRIPT_MESSAGE items)
    use mission waypoint numbering.
    """
    lonlat = plan.route_lonlat(route)
    pts = [(float(lon), float(lat)) for lon, lat in lonlat[1:]]
    # the route's last waypoint is its end base: land there (NAV_LAND at the current
    # position). RTL would fly to the nearest rally point or home, which is right only when
    # the sortie ends where it took off; landing is right in both cases.
    items = ms.route_mission(pts, altitude_m=float(route.altitudes_m[0]),
                             speed_mps=route.speed_mps, end="land", triggers=triggers)
    alts = iter(route.altitudes_m[1:])
    out = []
    for it in items:
        if it.command == ms.NAV_WAYPOINT:
            it = dataclasses.replace(it, alt_m=float(next(alts)))
        out.append(it)
    return out


def write_plan_dir(
    plan: PatrolPlan,
    out_dir: str | Path,
    *,
    routes: Sequence[Route] | None = None,
    items: dict[str, list[ms.MissionItem]] | None = None,
) -> dict[str, Path]:
    """Write every file of a plan into ``out_dir`` (created if needed); returns their paths.

    ``routes`` replaces ``plan.routes`` (a fleet schedule's sorties); ``items`` gives the
    mission items of a route by name (default :func:`route_items` without triggers).
    """
    all_routes = tuple(plan.routes if routes is None else routes)
    out = make_dir(out_dir)
    written: dict[str, Path] = {}
    fence, rally = fence_and_rally(plan, routes=all_routes)
    features = []
    for r in all_routes:
        lonlat = plan.route_lonlat(r)
        features.append({
            "type": "Feature",
            "properties": {
                "route": r.name, "length_m": round(r.length_m, 1),
                "duration_s": round(r.duration_s, 1), "zones": list(r.zones),
                "start_base": r.start_base, "end_base": r.end_base,
                "altitude_m": float(np.max(r.altitudes_m)), "speed_mps": r.speed_mps,
            },
            "geometry": {"type": "LineString", "coordinates": _round_list(lonlat)},
        })
        base = plan.bases[[b.name for b in plan.bases].index(r.start_base)]
        home = (base.lat_deg, base.lon_deg, 0.0)
        mission_items = (items or {}).get(r.name) or route_items(plan, r)
        try:
            ms.check_capacity(mission_items)
        except MissionError as exc:
            raise MissionError(f"route {r.name}: {exc}; with `dronepatrol plan`: widen "
                               "--spacing-m or give --drones N for shorter sorties") from None
        paths = {
            f"{r.name}.plan": out / f"{r.name}.plan",
            f"{r.name}.waypoints": out / f"{r.name}.waypoints",
            f"{r.name}.fence.waypoints": out / f"{r.name}.fence.waypoints",
            f"{r.name}.rally.waypoints": out / f"{r.name}.rally.waypoints",
        }
        ms.write_plan(paths[f"{r.name}.plan"], mission_items, home_latlon_alt=home, fence=fence,
                      rally=rally, cruise_speed_mps=r.speed_mps)
        ms.write_waypoints(paths[f"{r.name}.waypoints"], mission_items, home)
        ms.write_fence(paths[f"{r.name}.fence.waypoints"], fence)
        ms.write_rally(paths[f"{r.name}.rally.waypoints"], rally)
        written.update(paths)
    routes_path = out / "routes.geojson"
    write_json(routes_path, {"type": "FeatureCollection", "features": features})
    written["routes.geojson"] = routes_path

    fence_geo = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"fence": "inclusion"},
             "geometry": mapping(plan.frame.geometry_to_lonlat(
                 inclusion_polygon_local(plan, all_routes)))},
            *[{"type": "Feature", "properties": {"fence": "exclusion"},
               "geometry": mapping(plan.frame.geometry_to_lonlat(p))} for p in plan.no_fly_local],
        ],
    }
    fence_path = out / "geofence.geojson"
    write_json(fence_path, fence_geo)
    written["geofence.geojson"] = fence_path

    summary_path = out / "summary.json"
    write_json(summary_path, summary(plan, all_routes))
    written["summary.json"] = summary_path
    return written


def summary(plan: PatrolPlan, routes: Sequence[Route] | None = None) -> dict[str, Any]:
    """The plan summary as plain JSON-able data (``routes`` default: ``plan.routes``)."""
    all_routes = tuple(plan.routes if routes is None else routes)
    return {
        "source": plan.zoneset.source,
        "frame": {"proj": "aeqd", "lon0_deg": plan.frame.lon0_deg,
                  "lat0_deg": plan.frame.lat0_deg},
        "options": dataclasses.asdict(plan.options),
        "bases": [{"name": b.name, "lon_deg": b.lon_deg, "lat_deg": b.lat_deg}
                  for b in plan.bases],
        "zones": [
            {
                "name": r.name, "kind": r.kind, "area_m2": round(r.area_m2, 1),
                "coverable_area_m2": round(r.coverable_area_m2, 1),
                "covered_fraction": round(r.covered_fraction, 4),
                "path_length_m": round(r.path_length_m, 1),
                "sweep_duration_s": round(r.sweep_duration_s, 1),
                "spacing_m": r.spacing_m, "altitude_m": r.altitude_m,
                "angle_deg": None if r.angle_deg is None else round(r.angle_deg, 2),
                "cells": r.cells,
                "properties": _jsonable(r.properties),
            }
            for r in plan.reports
        ],
        "uncoverable": [{"name": u.name, "kind": u.kind, "reason": u.reason}
                        for u in plan.uncoverable],
        "routes": [
            {"route": r.name, "start_base": r.start_base, "end_base": r.end_base,
             "length_m": round(r.length_m, 1),
             "duration_s": round(r.duration_s, 1), "zones": list(r.zones),
             "transit_length_m": round(r.transit_length_m, 1),
             "waypoints": int(len(r.waypoints_xy))}
            for r in all_routes
        ],
    }


def _jsonable(props: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in props.items():
        try:
            json.dumps(v)
            out[k] = v
        except TypeError:
            out[k] = str(v)
    return out


def write_json(path: str | Path, obj: object) -> Path:
    """Write ``obj`` as UTF-8 JSON (indented, non-ASCII kept, final newline); returns the path."""
    p = Path(path)
    p.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return p


def read_json(path: str | Path, *, fix: str = "re-run `dronepatrol plan` to write it again"
              ) -> Any:
    """Read a JSON file of a plan directory; a missing, unreadable or damaged file raises
    :class:`DronePatrolError` naming the file, what is wrong and ``fix``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DronePatrolError(f"{p}: missing; {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DronePatrolError(f"{p}: cannot be read ({why or exc}); {fix}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DronePatrolError(f"{p}: damaged or truncated, not valid JSON at line {exc.lineno}, "
                               f"column {exc.colno} ({exc.msg}); {fix}") from None


def make_dir(path: str | Path) -> Path:
    """Create the output directory ``path`` (and its parents) unless it exists; returns it.

    Raises :class:`DronePatrolError` naming the path when it is a file or cannot be created.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise DronePatrolError(f"{out}: exists and is not a directory; give --out a new or "
                               "existing directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DronePatrolError(f"cannot create output directory {out}: "
                               f"{exc.strerror or exc}; give --out a writable place") from None
    return out

