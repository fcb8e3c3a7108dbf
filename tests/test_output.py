"""Plan files: routes.geojson, summary.json, mission files that QGC/pymavlink read, map."""

import json

import numpy as np
import pytest
from pymavlink import mavwp
from shapely.geometry import LineString, shape

from common import EXAMPLE_ZONES, city
from dronepatrol import mission as ms
from dronepatrol.output import inclusion_polygon_local, write_plan_dir
from dronepatrol.plan import PlanOptions, plan_patrol
from dronepatrol.zones import read_zones


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory):
    plan = plan_patrol(read_zones(EXAMPLE_ZONES), PlanOptions(spacing_m=150, altitude_m=40))
    out = tmp_path_factory.mktemp("plan")
    write_plan_dir(plan, out)
    return plan, out


def test_routes_geojson_is_lonlat_and_matches_plan(plan_dir):
    plan, out = plan_dir
    fc = json.loads((out / "routes.geojson").read_text(encoding="utf-8"))
    (feat,) = fc["features"]
    props = feat["properties"]
    route = plan.routes[0]
    assert props["route"] == route.name
    assert props["length_m"] == pytest.approx(route.length_m, abs=0.1)
    assert props["duration_s"] == pytest.approx(route.duration_s, abs=0.1)
    assert set(props["zones"]) == {z.name for z in plan.zoneset.patrol_zones}
    coords = np.asarray(feat["geometry"]["coordinates"])
    assert coords.shape == (len(route.waypoints_xy), 2)
    # (lon, lat) order near Xuchang
    assert np.all((113.7 < coords[:, 0]) & (coords[:, 0] < 114.0))
    assert np.all((33.9 < coords[:, 1]) & (coords[:, 1] < 34.2))
    # length measured in the file agrees with the plan
    local = plan.frame.xy_to_local(coords)
    assert LineString(local).length == pytest.approx(route.length_m, rel=1e-4)


def test_summary_reports_every_zone(plan_dir):
    plan, out = plan_dir
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    by_name = {z["name"]: z for z in s["zones"]}
    assert set(by_name) == {z.name for z in plan.zoneset.patrol_zones}
    assert s["uncoverable"] == []
    z = by_name["东城区防范区"]
    assert z["kind"] == "precaution"
    assert z["area_m2"] == pytest.approx(
        plan.frame.geometry_to_local(plan.zoneset.zone("东城区防范区").geometry).area, rel=1e-3)
    assert z["covered_fraction"] >= 0.99
    assert z["properties"]["district"] == "东城区"


def test_waypoints_file_loads_in_pymavlink(plan_dir):
    plan, out = plan_dir
    loader = mavwp.MAVWPLoader()
    n = loader.load(str(out / "route-1.waypoints"))
    items = ms.read_waypoints(out / "route-1.waypoints")[1]
    assert n == len(items) + 1  # home at seq 0
    wps = [loader.wp(i) for i in range(1, n) if loader.wp(i).command == ms.NAV_WAYPOINT]
    lonlat = plan.route_lonlat(plan.routes[0])[1:]
    assert len(wps) == len(lonlat)
    assert wps[0].x == pytest.approx(lonlat[0, 1], abs=1e-7)  # x is latitude in MAVLink
    assert wps[0].y == pytest.approx(lonlat[0, 0], abs=1e-7)
    assert loader.wp(1).command == ms.NAV_TAKEOFF
    assert loader.wp(n - 1).command == ms.NAV_LAND  # at the end base, the last waypoint


def test_plan_file_has_mission_fence_and_rally(plan_dir):
    plan, out = plan_dir
    doc = json.loads((out / "route-1.plan").read_text())
    assert doc["fileType"] == "Plan"
    assert doc["mission"]["items"][0]["command"] == ms.NAV_TAKEOFF
    polys = doc["geoFence"]["polygons"]
    assert sum(p["inclusion"] for p in polys) == 1
    assert sum(not p["inclusion"] for p in polys) == len(plan.no_fly_local)
    assert len(doc["rallyPoints"]["points"]) == len(plan.bases)


def test_inclusion_fence_contains_every_route_and_exclusions_cover_no_fly(plan_dir):
    plan, out = plan_dir
    inc = inclusion_polygon_local(plan)
    for r in plan.routes:
        assert inc.contains(LineString(r.waypoints_xy))
    fence = json.loads((out / "geofence.geojson").read_text())
    excl = [plan.frame.geometry_to_local(shape(f["geometry"]))
            for f in fence["features"] if f["properties"]["fence"] == "exclusion"]
    for nf in plan.no_fly_local:
        assert any(e.buffer(0.05).contains(nf) for e in excl)
    items = ms.read_fence(out / "route-1.fence.waypoints")
    assert len(items) <= ms.MAX_FENCE_ITEMS


def test_per_zone_altitude_is_written(tmp_path):
    from shapely.geometry import box

    zs = city(("low", "sealed", box(0, 0, 300, 200)), ("high", "sealed", box(600, 0, 900, 200)))
    plan = plan_patrol(zs, PlanOptions(spacing_m=80, altitude_m=40),
                       altitude_by_zone={"high": 70.0})
    write_plan_dir(plan, tmp_path)
    _, items = ms.read_waypoints(tmp_path / "route-1.waypoints")
    alts = {it.alt_m for it in items if it.command == ms.NAV_WAYPOINT}
    assert alts == {40.0, 70.0}


def test_map_png(plan_dir, tmp_path):
    from dronepatrol.plot import save_map

    plan, _ = plan_dir
    p = save_map(plan, tmp_path / "map.png")
    head = p.read_bytes()[:8]
    assert head == b"\x89PNG\r\n\x1a\n"
    assert p.stat().st_size > 20_000




def test_make_dir_refuses_a_file_and_read_json_names_a_damaged_file(tmp_path):
    from dronepatrol.errors import DronePatrolError
    from dronepatrol.output import make_dir, read_json, write_json

    assert make_dir(tmp_path / "a" / "b").is_dir()
    f = tmp_path / "file"
    f.write_text("x", encoding="utf-8")
    with pytest.raises(DronePatrolError, match="exists and is not a directory"):
        make_dir(f)
    p = write_json(tmp_path / "s.json", {"名": [1, 2]})
    assert read_json(p) == {"名": [1, 2]} and "名" in p.read_text(encoding="utf-8")
    p.write_text('{"a": [1,', encoding="utf-8")
    with pytest.raises(DronePatrolError, match=r"s.json: damaged or truncated.*line 1.*re-run"):
        read_json(p)
    with pytest.raises(DronePatrolError, match="missing.*fly again"):
        read_json(tmp_path / "nope.json", fix="fly again")
