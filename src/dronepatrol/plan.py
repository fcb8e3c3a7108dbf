"""The one-call planning facade: zones in, routes and a per-zone report out.

>>> from dronepatrol.zones import read_zones                      # doctest: +SKIP
>>> plan = plan_patrol(read_zones("examples/xuchang/zones.geojson"), spacing_m=120)  # +SKIP
>>> [r.name for r in plan.routes], plan.uncoverable                # doctest: +SKIP
(['route-1'], ())

Zones that cannot be covered (entirely inside a no-fly area, or unreachable from every base)
are listed in :attr:`PatrolPlan.uncoverable` with the reason; they are never dropped silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from dronepatrol.coverage import Kinematics, TransitGraph, plan_sweep
from dronepatrol.errors import PlanningError
from dronepatrol.geo import LocalFrame
from dronepatrol.route import Route, ZoneSweep, assemble_route
from dronepatrol.zones import Base, Zone, ZoneSet

#: Highest altitude above home a plan may use, metres (the usual legal limit is 120 m AGL).
MAX_ALTITUDE_M = 120.0
#: Lowest altitude above home a plan may use over a city, metres.
MIN_ALTITUDE_M = 15.0
#: Closest sweep lanes, metres: closer lanes multiply the flight time (and the planning time)
#: without covering more ground.
MIN_SPACING_M = 5.0


@dataclass(frozen=True, kw_only=True)
class PlanOptions:
    """Parameters of a patrol plan. Distances in metres, speeds in m/s."""

    spacing_m: float = 100.0
    altitude_m: float = 50.0
    speed_mps: float = 8.0
    accel_mps2: float = 2.0
    clearance_m: float = 30.0
    perimeter: str = "none"
    perimeter_margin_m: float | None = None

    def __post_init__(self) -> None:
        for name in ("spacing_m", "altitude_m", "speed_mps", "accel_mps2"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise PlanningError(f"{name} must be a positive number, got {v!r}")
        if self.spacing_m < MIN_SPACING_M:
            raise PlanningError(
                f"spacing_m {self.spacing_m:g} is below {MIN_SPACING_M:g} m; lanes that close "
                "multiply the flight time without covering more ground; give at least "
                f"{MIN_SPACING_M:g} m")
        if not MIN_ALTITUDE_M <= self.altitude_m <= MAX_ALTITUDE_M:
            raise PlanningError(
                f"altitude_m {self.altitude_m} is outside [{MIN_ALTITUDE_M}, {MAX_ALTITUDE_M}] m; "
                "choose an altitude above the rooftops and within the legal ceiling"
            )
        if self.speed_mps > 20.0:
            raise PlanningError(f"speed_mps {self.speed_mps} is above ArduCopter's 20 m/s limit; "
                                "give a cruise speed of at most 20 m/s")
        if not (math.isfinite(self.clearance_m) and self.clearance_m >= 0):
            raise PlanningError(f"clearance_m must be >= 0, got {self.clearance_m!r}")
        if self.perimeter not in ("none", "before", "only"):
            raise PlanningError(
                f"perimeter must be 'none', 'before' or 'only', got {self.perimeter!r}"
            )

    @property
    def kinematics(self) -> Kinematics:
        """The flight kinematics these options describe."""
        return Kinematics(speed_mps=self.speed_mps, accel_mps2=self.accel_mps2)


@dataclass(frozen=True)
class ZoneReport:
    """How one zone is covered by the plan."""

    name: str
    kind: str
    area_m2: float
    coverable_area_m2: float
    covered_fraction: float
    path_length_m: float
    sweep_duration_s: float
    spacing_m: float
    altitude_m: float
    angle_deg: float | None
    cells: int
    properties: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Uncoverable:
    """A zone the plan cannot cover, and why."""

    name: str
    kind: str
    reason: str


@dataclass(frozen=True)
class PatrolPlan:
    """The result of :func:`plan_patrol`: routes, per-zone reports, uncoverable zones."""

    zoneset: ZoneSet
    frame: LocalFrame
    options: PlanOptions
    bases: tuple[Base, ...]
    routes: tuple[Route, ...]
    sweeps: tuple[ZoneSweep, ...]
    reports: tuple[ZoneReport, ...]
    uncoverable: tuple[Uncoverable, ...]
    no_fly_local: tuple[Polygon, ...]
    graph: TransitGraph

    def base_xy(self, name: str) -> tuple[float, float]:
        """Local (x, y) of the base called ``name``."""
        for b in self.bases:
            if b.name == name:
                x, y = self.frame.to_local(b.lon_deg, b.lat_deg)
                return float(x), float(y)
        raise KeyError(name)

    def route_lonlat(self, route: Route) -> np.ndarray:
        """A route's waypoints as an (N, 2) array of (lon, lat) degrees."""
        return self.frame.xy_to_lonlat(route.waypoints_xy)


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    return [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and not g.is_empty]


def local_zones(zoneset: ZoneSet, frame: LocalFrame) -> dict[str, Polygon | MultiPolygon]:
    """Every zone's geometry in the local frame, by name."""
    return {z.name: frame.geometry_to_local(z.geometry) for z in zoneset.zones}


def plan_patrol(
    zoneset: ZoneSet,
    options: PlanOptions | None = None,
    *,
    bases: Sequence[Base] | None = None,
    spacing_by_zone: dict[str, float] | None = None,
    altitude_by_zone: dict[str, float] | None = None,
) -> PatrolPlan:
    """Plan one patrol route that sweeps every coverable zone, from and back to a base.

    ``bases`` overrides the zone file's bases; ``spacing_by_zone`` / ``altitude_by_zone``
    override the sweep spacing and altitude per zone (the broadcast planner uses them).
    A zone's own ``altitude_m`` property wins over ``options.altitude_m``.
    """
    opts = options or PlanOptions()
    base_list = tuple(bases) if bases is not None else zoneset.bases
    if not base_list:
        raise PlanningError(
            f"{zoneset.source or 'zones'}: no base to take off from; add a Point feature with "
            '"role": "base" to the zones file or pass --base LON,LAT'
        )
    geoms: list[BaseGeometry] = [z.geometry for z in zoneset.zones]
    geoms += [Point(b.lon_deg, b.lat_deg) for b in base_list]
    frame = LocalFrame.for_geometries(geoms, what=zoneset.source or "operating area")

    local = local_zones(zoneset, frame)
    no_fly: list[Polygon] = []
    for z in zoneset.no_fly_zones:
        no_fly.extend(_polygons(local[z.name]))
    graph = TransitGraph(no_fly, clearance_m=opts.clearance_m)
    no_fly_union = shapely.union_all(no_fly) if no_fly else Polygon()
    no_fly_buffered = no_fly_union.buffer(opts.clearance_m) if no_fly else Polygon()

    base_xy: list[tuple[float, float]] = []
    for b in base_list:
        x, y = frame.to_local(b.lon_deg, b.lat_deg)
        if no_fly and no_fly_buffered.contains(Point(x, y)):
            inside = [z.name for z in zoneset.no_fly_zones if z.geometry.covers(
                Point(b.lon_deg, b.lat_deg))]
            raise PlanningError(
                f"base {b.name} at ({b.lon_deg}, {b.lat_deg}) lies inside no-fly area "
                f"{', '.join(inside) or '(within clearance of one)'}; move the base outside it"
            )
        base_xy.append((float(x), float(y)))

    sweeps: list[ZoneSweep] = []
    reports: list[ZoneReport] = []
    uncoverable: list[Uncoverable] = []
    home_name = base_list[0].name
    for z in zoneset.patrol_zones:
        spacing = (spacing_by_zone or {}).get(z.name, opts.spacing_m)
        altitude = (altitude_by_zone or {}).get(z.name) or z.altitude_m or opts.altitude_m
        area = local[z.name]
        coverable = area.difference(no_fly_buffered) if no_fly else area
        if coverable.is_empty or coverable.area < 1.0:
            inside = [n.name for n in zoneset.no_fly_zones if local[n.name].intersects(area)]
            uncoverable.append(Uncoverable(
                z.name, z.kind.value,
                f"lies entirely inside no-fly area {', '.join(inside)}",
            ))
            continue
        try:
            sweep = plan_sweep(
                coverable, spacing_m=spacing, kinematics=opts.kinematics, no_fly=no_fly,
                clearance_m=opts.clearance_m, perimeter=opts.perimeter,  # type: ignore[arg-type]
                perimeter_margin_m=opts.perimeter_margin_m, transit=graph,
            )
        except PlanningError as exc:
            uncoverable.append(Uncoverable(z.name, z.kind.value, str(exc)))
            continue
        start = tuple(float(v) for v in sweep.waypoints_xy[0])
        if not any(math.isfinite(graph.distance_m(bxy, start)) for bxy in base_xy):  # type: ignore[arg-type]
            uncoverable.append(Uncoverable(
                z.name, z.kind.value,
                "cannot be reached from any base: every path is blocked by no-fly areas",
            ))
            continue
        sweeps.append(ZoneSweep(z.name, sweep, float(altitude)))
        reports.append(_report(z, area, coverable, sweep, spacing, float(altitude)))

    routes: list[Route] = []
    if sweeps:
        routes.append(assemble_route(
            "route-1", sweeps, graph, start_xy=base_xy[0], end_xy=base_xy[0],
            start_base=home_name, end_base=home_name, transit_altitude_m=opts.altitude_m,
            kinematics=opts.kinematics,
        ))
    return PatrolPlan(
        zoneset=zoneset, frame=frame, options=opts, bases=base_list, routes=tuple(routes),
        sweeps=tuple(sweeps), reports=tuple(reports), uncoverable=tuple(uncoverable),
        no_fly_local=tuple(no_fly), graph=graph,
    )


def _report(
    z: Zone, area: BaseGeometry, coverable: BaseGeometry, sweep: object, spacing: float,
    altitude: float,
) -> ZoneReport:
    from dronepatrol.coverage import SweepPath

    assert isinstance(sweep, SweepPath)
    return ZoneReport(
        name=z.name, kind=z.kind.value, area_m2=float(area.area),
        coverable_area_m2=float(coverable.area), covered_fraction=float(sweep.covered_fraction),
        path_length_m=float(sweep.length_m), sweep_duration_s=float(sweep.duration_s),
        spacing_m=float(spacing), altitude_m=altitude, angle_deg=sweep.angle_deg,
        cells=int(sweep.cells), properties=dict(z.properties),
    )
