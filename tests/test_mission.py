"""Tests for dronepatrol.mission: items, fence simplification, capacity and mission files."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer
from shapely.geometry import Polygon

from dronepatrol import mission as m
from dronepatrol.errors import DronePatrolWarning, MissionError
from dronepatrol.mission import MissionItem, Trigger

GOLDEN = Path(__file__).parent / "golden"

# The small known mission/fence/rally that the hand-written golden files describe.
ROUTE = [(113.8, 34.0), (113.801, 34.0005)]
HOME = (34.0, 113.8, 120.0)
INCLUSION = [(113.79, 33.99), (113.81, 33.99), (113.81, 34.01), (113.79, 34.01)]
EXCLUSION = [(113.80, 34.002), (113.802, 34.002), (113.801, 34.004)]
RALLY = [(113.805, 34.005), (113.795, 33.995)]


def golden_mission() -> list[MissionItem]:
    return m.route_mission(
        ROUTE, altitude_m=30, speed_mps=5, hold_s=[0, 10],
        triggers=[Trigger(before_waypoint=1, param1=7, param2=2.5)],
    )


def golden_fence() -> list[MissionItem]:
    return m.fence_items(INCLUSION, [EXCLUSION], return_point_lonlat=(113.8, 34.0))


def golden_rally() -> list[MissionItem]:
    return m.rally_items(RALLY, altitude_m=40)


def run_pymavlink(script: str, *args: str) -> object:
    """Run ``script`` in a fresh MAVLink 2 process (pymavlink state is process-global)."""
    env = dict(os.environ, MAVLINK20="1")
    out = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )
    return json.loads(out.stdout)


LOAD_ALL = """
import json, sys
from pymavlink import mavwp
kind, path = sys.argv[1], sys.argv[2]
loader = {"wp": mavwp.MAVWPLoader, "fence": mavwp.MissionItemProtocol_Fence,
          "rally": mavwp.MissionItemProtocol_Rally}[kind]()
loader.load(path)
print(json.dumps([[w.seq, w.current, w.frame, w.command, w.param1, w.param2, w.param3,
                   w.param4, w.x, w.y, w.z, w.autocontinue, w.mission_type]
                  for w in loader.wpoints]))
"""


# ------------------------------------------------------------------------------------------
# route_mission


def test_route_structure_takeoff_speed_waypoints_rtl() -> None:
    items = m.route_mission(ROUTE, altitude_m=25, speed_mps=6, takeoff_altitude_m=10)
    assert [i.command for i in items] == [m.NAV_TAKEOFF, m.DO_CHANGE_SPEED, m.NAV_WAYPOINT,
                                          m.NAV_WAYPOINT, m.NAV_RETURN_TO_LAUNCH]
    assert items[0].alt_m == 10
    assert items[1].param2 == 6 and items[1].frame == m.FRAME_MISSION
    assert all(i.alt_m == 25 for i in items[2:4])
    assert all(i.mission_type == m.MISSION for i in items)


def test_lonlat_becomes_latlon() -> None:
    items = m.route_mission([(113.8, 34.0)], altitude_m=30)
    wp = items[1]
    assert (wp.lat_deg, wp.lon_deg) == (34.0, 113.8)


def test_lonlat_order_in_waypoints_file(tmp_path: Path) -> None:
    path = tmp_path / "m.waypoints"
    m.write_waypoints(path, m.route_mission([(113.8, 34.0)], altitude_m=30), HOME)
    cols = path.read_text().splitlines()[3].split("\t")
    assert cols[3] == "16"
    assert float(cols[8]) == 34.0 and float(cols[9]) == 113.8


@pytest.mark.parametrize("end,last", [("rtl", m.NAV_RETURN_TO_LAUNCH), ("land", m.NAV_LAND),
                                      ("none", m.NAV_WAYPOINT)])
def test_route_end(end: m.End, last: int) -> None:
    items = m.route_mission(ROUTE, altitude_m=30, end=end)
    assert items[-1].command == last
    assert items[0].command == m.NAV_TAKEOFF


def test_triggers_inserted_before_their_waypoint_and_holds() -> None:
    triggers = [Trigger(before_waypoint=0, param1=1), Trigger(before_waypoint=2, param1=2),
                Trigger(before_waypoint=2, param1=3), Trigger(before_waypoint=3, param1=4)]
    route = [(113.8, 34.0), (113.801, 34.0), (113.802, 34.0)]
    items = m.route_mission(route, altitude_m=30, hold_s=[1, 2, 3], triggers=triggers)
    seq = [(i.command, i.param1) for i in items]
    S, W = m.DO_SEND_SCRIPT_MESSAGE, m.NAV_WAYPOINT
    assert seq == [(m.NAV_TAKEOFF, 0), (S, 1), (W, 1), (W, 2), (S, 2), (S, 3), (W, 3), (S, 4),
                   (m.NAV_RETURN_TO_LAUNCH, 0)]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(waypoints_lonlat=[]), "no waypoints"),
        (dict(waypoints_lonlat=[(math.nan, 34.0)]), "waypoint 0 longitude must be finite"),
        (dict(waypoints_lonlat=[(113.8, 34.0), (113.8, math.inf)]), "waypoint 1 latitude"),
        (dict(waypoints_lonlat=[(34.0, 113.8)]), r"latitude 113.8 is outside.*\(lat, lon\)"),
        (dict(waypoints_lonlat=[(190.0, 34.0)]), "longitude 190.0 is outside"),
        (dict(waypoints_lonlat=[(113.8,)]), r"\(lon, lat\) pair"),
        (dict(altitude_m=0), "altitude_m must be > 0"),
        (dict(altitude_m=math.nan), "altitude_m must be finite"),
        (dict(speed_mps=-1), "speed_mps must be > 0"),
        (dict(takeoff_altitude_m=-5), "takeoff_altitude_m must be > 0"),
        (dict(hold_s=[1.0]), "hold_s has 1 values for 2 waypoints"),
        (dict(hold_s=[1.0, -2.0]), r"hold_s\[1\] must be >= 0"),
        (dict(end="loiter"), "end must be"),
        (dict(triggers=[Trigger(before_waypoint=3)]), "before waypoint 3.*has 2 waypoints"),
    ],
)
def test_route_bad_input(kwargs: dict, match: str) -> None:
    args: dict = dict(waypoints_lonlat=ROUTE, altitude_m=30)
    args.update(kwargs)
    with pytest.raises(MissionError, match=match):
        m.route_mission(args.pop("waypoints_lonlat"), **args)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(before_waypoint=-1), "before_waypoint must be >= 0"),
        (dict(before_waypoint=1.5), "must be an int"),
        (dict(before_waypoint=0, param2=math.nan), "param2 must be finite"),
        (dict(before_waypoint=0, param1=70000), "uint16 message id"),
        (dict(before_waypoint=0, command=0), "MAV_CMD"),
    ],
)
def test_trigger_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(MissionError, match=match):
        Trigger(**kwargs)


# ------------------------------------------------------------------------------------------
# capacity


def test_capacity_constants_count_home() -> None:
    ok = [MissionItem(command=m.NAV_WAYPOINT, lat_deg=34, lon_deg=113)] * (m.MAX_MISSION_ITEMS - 1)
    m.check_capacity(ok)  # 649 items + home = 650 MISSION_COUNT: accepted by ArduCopter
    with pytest.raises(MissionError, match="650 items.*split_for_capacity.*BRD_SD_MISSION"):
        m.check_capacity(ok + ok[:1])
    assert m.MAX_FENCE_ITEMS == 69


@pytest.mark.parametrize("n,max_items,speed,per_wp", [(2000, 650, 5.0, 1), (1300, 650, None, 2),
                                                      (10, 6, None, 1), (647, 650, None, 1)])
def test_split_for_capacity(n: int, max_items: int, speed: float | None, per_wp: int) -> None:
    rng = np.random.default_rng(n)
    route = [(113.8 + float(a), 34.0 + float(b)) for a, b in rng.uniform(0, 0.05, (n, 2))]
    sorties = m.split_for_capacity(route, max_items, speed_mps=speed, items_per_waypoint=per_wp)
    for s in sorties:
        triggers = [Trigger(before_waypoint=i, param1=i % 100) for i in range(len(s))]
        items = m.route_mission(s, altitude_m=30, speed_mps=speed,
                                triggers=triggers if per_wp == 2 else ())
        m.check_capacity(items, max_items)
    # sorties share their boundary waypoint and together fly the whole route in order
    rebuilt = list(sorties[0])
    for prev, s in zip(sorties, sorties[1:], strict=False):
        assert s[0] == prev[-1]
        rebuilt += s[1:]
    assert rebuilt == route
    if n + 3 + (speed is not None) <= max_items:
        assert len(sorties) == 1


def test_split_for_capacity_impossible() -> None:
    with pytest.raises(MissionError, match="at least 2 are needed.*BRD_SD_MISSION"):
        m.split_for_capacity(ROUTE * 3, 4)
    with pytest.raises(MissionError, match="no waypoints"):
        m.split_for_capacity([], 650)


# ------------------------------------------------------------------------------------------
# fence


def test_fence_items_layout() -> None:
    items = golden_fence()
    assert [i.command for i in items] == [m.NAV_FENCE_RETURN_POINT] + [
        m.NAV_FENCE_POLYGON_VERTEX_INCLUSION] * 4 + [m.NAV_FENCE_POLYGON_VERTEX_EXCLUSION] * 3
    assert [i.param1 for i in items[1:]] == [4] * 4 + [3] * 3
    assert all(i.mission_type == m.FENCE for i in items)
    assert [(i.lon_deg, i.lat_deg) for i in items[1:5]] == INCLUSION


def test_fence_drops_closing_duplicate() -> None:
    items = m.fence_items(INCLUSION + INCLUSION[:1], [])
    assert len(items) == 4 and items[0].param1 == 4


def star_polygon(rng: np.random.Generator, lon0: float, lat0: float, radius_m: float,
                 n: int) -> list[tuple[float, float]]:
    """A random star-shaped (hence simple) polygon with n vertices around (lon0, lat0)."""
    angles = np.sort(rng.uniform(0.0, 2 * np.pi, n))
    radii = radius_m * rng.uniform(0.6, 1.0, n)
    to_ll = Transformer.from_crs(
        f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +ellps=WGS84 +units=m", "EPSG:4326",
        always_xy=True,
    )
    lon, lat = to_ll.transform(radii * np.cos(angles), radii * np.sin(angles))
    return [(float(a), float(b)) for a, b in zip(lon, lat, strict=True)]


def polygons_from_items(items: list[MissionItem]) -> list[tuple[int, Polygon]]:
    out, i = [], 0
    while i < len(items):
        if items[i].command == m.NAV_FENCE_RETURN_POINT:
            i += 1
            continue
        n = int(items[i].param1)
        group = items[i:i + n]
        assert len(group) == n and all(g.command == items[i].command for g in group)
        out.append((items[i].command, Polygon([(g.lon_deg, g.lat_deg) for g in group])))
        i += n
    return out


@pytest.mark.parametrize("seed", range(4))
def test_fence_simplification_is_conservative(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lon0, lat0 = 113.8 + rng.uniform(-1, 1), 34.0 + rng.uniform(-1, 1)
    inclusion = star_polygon(rng, lon0, lat0, 4000.0, int(rng.integers(200, 400)))
    exclusions = [
        star_polygon(rng, lon0 + rng.uniform(-0.02, 0.02), lat0 + rng.uniform(-0.02, 0.02),
                     float(rng.uniform(100, 500)), int(rng.integers(100, 300)))
        for _ in range(int(rng.integers(1, 5)))
    ]
    with pytest.warns(DronePatrolWarning, match="fence simplified"):
        items = m.fence_items(inclusion, exclusions, return_point_lonlat=(lon0, lat0))
    assert len(items) <= m.MAX_FENCE_ITEMS
    assert items[0].command == m.NAV_FENCE_RETURN_POINT
    polys = polygons_from_items(items)
    assert len(polys) == 1 + len(exclusions)
    # independent metric frame (not dronepatrol.geo) for the check
    fwd = Transformer.from_crs("EPSG:4326", f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} "
                               "+ellps=WGS84 +units=m", always_xy=True)

    def metric(p: Polygon) -> Polygon:
        x, y = fwd.transform(*np.asarray(p.exterior.coords).T)
        return Polygon(np.column_stack([x, y]))

    originals = [Polygon(inclusion)] + [Polygon(e) for e in exclusions]
    for (cmd, simple), original in zip(polys, originals, strict=True):
        assert simple.is_valid and len(simple.exterior.coords) - 1 >= 3
        # in the (lon, lat) plane (ArduPilot's straight edges) and in metres
        if cmd == m.NAV_FENCE_POLYGON_VERTEX_INCLUSION:
            assert original.contains(simple)
            assert metric(original).contains(metric(simple))
        else:
            assert cmd == m.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
            assert simple.contains(original)
            assert metric(simple).contains(metric(original))


def test_fence_no_simplification_when_it_fits() -> None:
    rng = np.random.default_rng(7)
    ring = star_polygon(rng, 113.8, 34.0, 500.0, 60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        items = m.fence_items(None, [ring])
    assert [(i.lon_deg, i.lat_deg) for i in items] == ring


@pytest.mark.parametrize(
    "inclusion,exclusions,kwargs,match",
    [
        (INCLUSION[:2], [], {}, "inclusion polygon has 2 distinct vertices.*at least 3"),
        (None, [EXCLUSION, [(113.8, 34.0), (113.8, 34.0), (113.8, 34.0)]], {},
         "exclusion polygon 1 has 1 distinct"),
        ([(113.79, 33.99), (113.81, 34.01), (113.81, 33.99), (113.79, 34.01)], [], {},
         "inclusion polygon is not a simple polygon.*cross themselves"),
        ([(113.79, math.nan), (113.81, 33.99), (113.81, 34.01)], [], {}, "latitude must be finite"),
        ([(113.79, 95.0), (113.81, 33.99), (113.81, 34.01)], [], {}, "latitude 95.0 is outside"),
        (INCLUSION, [EXCLUSION] * 22, {"return_point_lonlat": (113.8, 34.0)},
         r"need at least 70 fence items.*stores 69.*BRD_SD_FENCE.*merge"),
        (INCLUSION, [], {"return_point_lonlat": (34.0, 113.8)}, "return point latitude"),
    ],
)
def test_fence_bad_input(inclusion, exclusions, kwargs, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MissionError, match=match):
        m.fence_items(inclusion, exclusions, **kwargs)


def test_fence_too_many_exclusion_polygons() -> None:
    assert len(m.fence_items(None, [EXCLUSION] * 23)) == 69  # 23 x 3 fits exactly
    with pytest.raises(MissionError, match=r"24 polygons need at least 72.*stores 69"):
        m.fence_items(None, [EXCLUSION] * 24)


def test_fence_cannot_fit_raises() -> None:
    rng = np.random.default_rng(5)
    rings = [star_polygon(rng, 113.8 + 0.01 * k, 34.0, 300.0, 50) for k in range(10)]
    # 3 vertices each would fit in 30, but a conservative (growing) simplification of these
    # shapes does not reach triangles
    with pytest.raises(MissionError, match=r"simplified conservatively into 30 .*BRD_SD_FENCE"):
        m.fence_items(None, rings, max_items=30)


def test_rally_items() -> None:
    items = golden_rally()
    assert [(i.command, i.mission_type, i.frame) for i in items] == [
        (m.NAV_RALLY_POINT, m.RALLY, m.FRAME_GLOBAL_RELATIVE_ALT)] * 2
    assert (items[0].lat_deg, items[0].lon_deg, items[0].alt_m) == (34.005, 113.805, 40)
    with pytest.raises(MissionError, match="point 0 latitude 113.805"):
        m.rally_items([(34.005, 113.805)], altitude_m=40)
    with pytest.raises(MissionError, match="altitude_m must be > 0"):
        m.rally_items(RALLY, altitude_m=-1)


# ------------------------------------------------------------------------------------------
# files: golden, round trips, pymavlink compatibility


@pytest.mark.parametrize(
    "name,write",
    [
        ("mission.waypoints", lambda p: m.write_waypoints(p, golden_mission(), HOME)),
        ("fence.txt", lambda p: m.write_fence(p, golden_fence())),
        ("rally.txt", lambda p: m.write_rally(p, golden_rally())),
        ("mission.plan", lambda p: m.write_plan(p, golden_mission(), home_latlon_alt=HOME,
                                                fence=golden_fence(), rally=golden_rally())),
    ],
)
def test_golden_files(tmp_path: Path, name: str, write) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / name
    write(out)
    assert out.read_bytes() == (GOLDEN / name).read_bytes()


def test_waypoints_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    route = [(float(a), float(b)) for a, b in
             zip(rng.uniform(-179, 179, 40), rng.uniform(-89, 89, 40), strict=True)]
    route = [(round(lon, 7), round(lat, 7)) for lon, lat in route]
    items = m.route_mission(route, altitude_m=42.5, speed_mps=7.25, end="land",
                            hold_s=[float(i % 3) for i in range(40)],
                            triggers=[Trigger(before_waypoint=5, param1=3, param4=-2.5)])
    path = tmp_path / "r.waypoints"
    m.write_waypoints(path, items, (-12.3456789, 45.6789012, 301.25))
    home, back = m.read_waypoints(path)
    assert home == (-12.3456789, 45.6789012, 301.25)
    assert back == items


def test_fence_and_rally_round_trip(tmp_path: Path) -> None:
    m.write_fence(tmp_path / "f.txt", golden_fence())
    m.write_rally(tmp_path / "r.txt", golden_rally())
    assert m.read_fence(tmp_path / "f.txt") == golden_fence()
    assert m.read_rally(tmp_path / "r.txt") == golden_rally()


def test_plan_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "p.plan"
    m.write_plan(path, golden_mission(), home_latlon_alt=HOME, fence=golden_fence(),
                 rally=golden_rally(), hover_speed_mps=6.5)
    plan = m.read_plan(path)
    assert plan.home_latlon_alt == HOME
    assert plan.mission == golden_mission()
    assert plan.fence == golden_fence()
    assert plan.rally == golden_rally()
    assert plan.hover_speed_mps == 6.5
    doc = json.loads(path.read_text())
    assert doc["mission"]["items"][2]["params"][4:6] == [34, 113.8]  # (lat, lon)
    assert doc["geoFence"]["polygons"][0]["polygon"][0] == [33.99, 113.79]


def test_plan_reads_qgc_null_params(tmp_path: Path) -> None:
    doc = json.loads((GOLDEN / "mission.plan").read_text())
    doc["mission"]["items"][0]["params"][3] = None  # QGC's NaN yaw
    path = tmp_path / "q.plan"
    path.write_text(json.dumps(doc))
    assert m.read_plan(path).mission[0].param4 == 0.0


@pytest.mark.parametrize("kind,golden,count", [("wp", "mission.waypoints", 7),
                                                ("fence", "fence.txt", 8),
                                                ("rally", "rally.txt", 2)])
def test_pymavlink_loads_golden(kind: str, golden: str, count: int) -> None:
    rows = run_pymavlink(LOAD_ALL, kind, str(GOLDEN / golden))
    assert isinstance(rows, list) and len(rows) == count
    if kind == "wp":
        home, items = m.read_waypoints(GOLDEN / golden)
        assert rows[0][8:11] == list(home) and rows[0][1] == 1
        mine = [MissionItem(command=16, frame=0, lat_deg=home[0], lon_deg=home[1],
                            alt_m=home[2])] + items
    else:
        mine = (m.read_fence if kind == "fence" else m.read_rally)(GOLDEN / golden)
        assert {r[12] for r in rows} == {m.FENCE if kind == "fence" else m.RALLY}
    for row, item in zip(rows, mine, strict=True):
        assert row[2:4] == [item.frame, item.command]
        assert row[4:11] == pytest.approx([item.param1, item.param2, item.param3, item.param4,
                                           item.lat_deg, item.lon_deg, item.alt_m], abs=1e-6)


def test_pymavlink_loads_written_mission(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    route = [(113.8 + float(a), 34.0 + float(b)) for a, b in rng.uniform(0, 0.02, (120, 2))]
    items = m.route_mission(route, altitude_m=35, speed_mps=4)
    path = tmp_path / "big.waypoints"
    m.write_waypoints(path, items, HOME)
    rows = run_pymavlink(LOAD_ALL, "wp", str(path))
    assert isinstance(rows, list) and len(rows) == len(items) + 1
    wps = [r for r in rows[1:] if r[3] == m.NAV_WAYPOINT]
    got = [v for r in wps for v in (r[8], r[9])]
    assert got == pytest.approx([v for lon, lat in route for v in (lat, lon)], abs=6e-9)


@pytest.mark.parametrize(
    "text,match",
    [
        ("QGC WPL 100\n", "expected 'QGC WPL 110'"),
        ("QGC WPL 110\n0\t1\t0\t16\t0\t0\n", "expected 12 tab-separated columns, got 6"),
        ("QGC WPL 110\n1\t1\t0\t16\t0\t0\t0\t0\t34\t113\t0\t1\n", "sequence number 1, expected 0"),
        ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\tx\t113\t0\t1\n", r":2: could not convert"),
        ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\tnan\t113\t0\t1\n", ":2: .*NaN"),
        ("QGC WPL 110\n", "no home line"),
    ],
)
def test_read_waypoints_bad_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.waypoints"
    path.write_text(text)
    with pytest.raises(MissionError, match=match):
        m.read_waypoints(path)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(MissionError, match="cannot read"):
        m.read_waypoints(tmp_path / "missing.waypoints")
    with pytest.raises(MissionError, match="cannot write"):
        m.write_waypoints(tmp_path / "no" / "dir.waypoints", golden_mission(), HOME)
    with pytest.raises(MissionError, match="mission_type 1, expected 0"):
        m.write_waypoints(tmp_path / "x.waypoints", golden_fence(), HOME)
    with pytest.raises(MissionError, match="expected 1"):
        m.write_fence(tmp_path / "x.txt", golden_rally())
    with pytest.raises(MissionError, match="home must be finite"):
        m.write_waypoints(tmp_path / "x.waypoints", golden_mission(), (math.nan, 1.0, 2.0))
    bad = tmp_path / "bad.plan"
    bad.write_text("{not json")
    with pytest.raises(MissionError, match="not valid JSON"):
        m.read_plan(bad)
    doc = json.loads((GOLDEN / "mission.plan").read_text())
    doc["mission"]["items"].append({"type": "ComplexItem", "complexItemType": "survey"})
    bad.write_text(json.dumps(doc))
    with pytest.raises(MissionError, match="item 6: only SimpleItem.*'survey'"):
        m.read_plan(bad)
    with pytest.raises(MissionError, match="at least one mission item"):
        m.write_plan(tmp_path / "e.plan", [], home_latlon_alt=HOME)
