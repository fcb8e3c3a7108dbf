"""The planning facade: the example city and seeded random cities, safety invariants,
uncoverable zones reported, bad parameters refused."""

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from common import EXAMPLE_ZONES, city, random_polygon
from dronepatrol.errors import PlanningError
from dronepatrol.plan import PlanOptions, plan_patrol
from dronepatrol.zones import read_zones


def legs(route):
    xy = route.waypoints_xy
    return [LineString(xy[i:i + 2]) for i in range(len(xy) - 1)]


def assert_safe(plan, tol_m=1.0):
    """No leg of any route enters a no-fly area (shrunk by tol_m for float noise)."""
    for nf in plan.no_fly_local:
        core = nf.buffer(-tol_m)
        if core.is_empty:
            continue
        for r in plan.routes:
            for i, leg in enumerate(legs(r)):
                assert not leg.intersects(core), f"{r.name} leg {i} {r.leg_kinds[i]} in no-fly"


@pytest.fixture(scope="module")
def example_plan():
    return plan_patrol(read_zones(EXAMPLE_ZONES), PlanOptions(spacing_m=120))


def test_example_city_covers_every_zone(example_plan):
    plan = example_plan
    assert plan.uncoverable == ()
    names = {z.name for z in plan.zoneset.patrol_zones}
    assert {r.name for r in plan.reports} == names
    for rep in plan.reports:
        assert rep.covered_fraction >= 0.99, rep
    (route,) = plan.routes
    assert set(route.zones) == names
    assert_safe(plan)


def test_route_starts_and_ends_at_base_and_labels_legs(example_plan):
    plan = example_plan
    (route,) = plan.routes
    home = np.asarray(plan.base_xy(route.start_base))
    assert np.allclose(route.waypoints_xy[0], home)
    assert np.allclose(route.waypoints_xy[-1], home)
    assert route.leg_kinds[0] == "transit" and route.leg_kinds[-1] == "transit"
    assert set(route.leg_kinds) <= {"transit", "sweep", "connect", "perimeter"}
    pairs = zip(route.leg_kinds, route.leg_zones, strict=True)
    assert all((z is None) == (k == "transit") for k, z in pairs)
    assert route.length_m == pytest.approx(
        float(np.sum(np.hypot(*np.diff(route.waypoints_xy, axis=0).T))))
    # duration is at least length / cruise speed
    assert route.duration_s > route.length_m / plan.options.speed_mps


def test_zone_inside_no_fly_is_reported_not_dropped():
    zs = city(("A", "sealed", box(0, 0, 400, 300)),
              ("inside", "sealed", box(1100, 100, 1200, 200)),
              ("H", "no_fly", box(1000, 0, 1300, 300)))
    plan = plan_patrol(zs, PlanOptions(spacing_m=60))
    assert [u.name for u in plan.uncoverable] == ["inside"]
    assert "inside no-fly area H" in plan.uncoverable[0].reason
    assert [r.name for r in plan.reports] == ["A"]


def test_zone_enclosed_by_no_fly_ring_is_unreachable():
    ring = box(900, -300, 1700, 500).difference(box(1000, -200, 1600, 400))
    zs = city(("A", "sealed", box(0, 0, 400, 300)),
              ("island", "controlled", box(1150, -50, 1450, 250)),
              ("wall", "no_fly", ring))
    plan = plan_patrol(zs, PlanOptions(spacing_m=60))
    assert [u.name for u in plan.uncoverable] == ["island"]
    assert "cannot be reached from any base" in plan.uncoverable[0].reason
    assert_safe(plan)


def test_base_inside_no_fly_is_an_error():
    zs = city(("A", "sealed", box(0, 0, 400, 300)), ("H", "no_fly", box(-200, -200, -10, -10)),
              bases=((-100, -100),))
    with pytest.raises(PlanningError, match="base base0 .* inside no-fly area H.*move the base"):
        plan_patrol(zs)


def test_no_base_is_an_error():
    zs = city(("A", "sealed", box(0, 0, 400, 300)), bases=())
    with pytest.raises(PlanningError, match='role": "base".*--base'):
        plan_patrol(zs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"spacing_m": 0}, "spacing_m must be a positive"),
     ({"altitude_m": 500}, "altitude_m 500 is outside"),
     ({"speed_mps": float("nan")}, "speed_mps must be a positive"),
     ({"perimeter": "around"}, "perimeter must be")],
)
def test_bad_options(kwargs, match):
    with pytest.raises(PlanningError, match=match):
        PlanOptions(**kwargs)


@pytest.mark.parametrize("seed", range(6))
def test_random_cities_are_covered_and_safe(seed):
    rng = np.random.default_rng(seed)
    zones = []
    for i in range(4):
        cx, cy = rng.uniform(-1500, 1500, 2)
        zones.append((f"z{i}", rng.choice(["sealed", "controlled", "precaution"]),
                      random_polygon(rng, cx, cy, rng.uniform(150, 450))))
    for j in range(3):
        cx, cy = rng.uniform(-1500, 1500, 2)
        zones.append((f"nf{j}", "no_fly", random_polygon(rng, cx, cy, rng.uniform(60, 200), 8)))
    base = (-2200.0, -2200.0)
    zs = city(*zones, bases=(base,))
    plan = plan_patrol(zs, PlanOptions(spacing_m=float(rng.uniform(40, 120))))
    reported = {r.name for r in plan.reports} | {u.name for u in plan.uncoverable}
    assert reported == {z.name for z in zs.patrol_zones}  # nothing silently dropped
    for rep in plan.reports:
        assert rep.covered_fraction >= 0.99, rep
    assert_safe(plan)
    # every waypoint lies in the operating area (zones and bases, plus a transit margin)
    local = [plan.frame.geometry_to_local(z.geometry).buffer(plan.options.clearance_m)
             for z in zs.zones]
    area = shapely.union_all(local + [Point(plan.base_xy("base0"))]).convex_hull
    for r in plan.routes:
        for p in r.waypoints_xy:
            assert area.buffer(plan.options.spacing_m + 50).contains(Point(p))


def test_zone_smaller_than_spacing_gets_a_route():
    # a 20 m kiosk square swept at 150 m spacing: a single lane, still joined into the route
    zs = city(("kiosk", "sealed", box(100, 100, 120, 120)), ("A", "sealed", box(400, 0, 700, 300)))
    plan = plan_patrol(zs, PlanOptions(spacing_m=150))
    (route,) = plan.routes
    assert set(route.zones) == {"kiosk", "A"}
    assert {r.name: r.covered_fraction for r in plan.reports}["kiosk"] >= 0.99
