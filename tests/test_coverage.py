"""Tests for dronepatrol.coverage: invariants over seeded random zones, hand-checked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from dronepatrol import coverage as cov
from dronepatrol.coverage import (
    Kinematics,
    SweepPath,
    TransitGraph,
    covered_fraction,
    flight_time_s,
    lower_bound_s,
    plan_sweep,
)
from dronepatrol.errors import PlanningError

KIN = Kinematics(speed_mps=8.0, accel_mps2=2.0, turn_rate_dps=90.0)


# --------------------------------------------------------------------------- random zones


def _star(rng: np.random.Generator, n: int, r_m: float, c=(0.0, 0.0)) -> Polygon:
    ang = np.sort(rng.uniform(0, 2 * math.pi, n))
    rad = r_m * rng.uniform(0.5, 1.0, n)
    poly = Polygon(np.c_[c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)])
    return poly if poly.is_valid else shapely.make_valid(poly).buffer(0)


def _zone(seed: int) -> tuple[Polygon, list[Polygon], float]:
    """A random zone (convex, concave, holed) with no-fly areas inside or overlapping."""
    rng = np.random.default_rng(seed)
    kind = seed % 4
    if kind == 0:
        zone = shapely.convex_hull(shapely.multipoints(rng.uniform(-300, 300, (9, 2))))
    else:
        zone = _star(rng, int(rng.integers(7, 25)), float(rng.uniform(200, 400)))
    if kind >= 2:
        holes = [Point(rng.uniform(-60, 60, 2)).buffer(float(rng.uniform(15, 40)), quad_segs=3)]
        zone = zone.difference(holes[0])
    no_fly: list[Polygon] = []
    if kind == 3 or seed % 3 == 0:
        for _ in range(int(rng.integers(1, 3))):
            c = rng.uniform(-200, 200, 2)
            no_fly.append(box(c[0] - 30, c[1] - 20, c[0] + 30, c[1] + 20))
    spacing = float(rng.choice([25.0, 40.0, 60.0]))
    return zone, no_fly, spacing


def _check_invariants(
    zone: Polygon | MultiPolygon,
    no_fly: list[Polygon],
    spacing: float,
    clearance: float,
    plan: SweepPath,
) -> None:
    xy = plan.waypoints_xy
    assert xy.ndim == 2 and xy.shape[1] == 2 and np.all(np.isfinite(xy))
    assert len(plan.kinds) == len(xy) - 1
    assert set(plan.kinds) <= {"sweep", "connect", "perimeter"}
    legs = np.hypot(*np.diff(xy, axis=0).T)
    assert np.all(legs > 0)
    assert plan.length_m == pytest.approx(float(legs.sum()))
    assert plan.duration_s == pytest.approx(flight_time_s(xy, KIN))
    free = zone
    keep_out = None
    if no_fly:
        keep_out = shapely.union_all(no_fly).buffer(clearance - 1.0)
        free = zone.difference(shapely.union_all(no_fly).buffer(clearance))
        lines = shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
        crossing = shapely.intersects(lines, keep_out)
        assert not crossing.any(), f"legs {np.flatnonzero(crossing)} enter a no-fly area"
    # measured independently of the planner's own figure
    measured = covered_fraction(free, xy, spacing)
    assert measured >= 0.99
    assert plan.covered_fraction == pytest.approx(measured, abs=2e-3)  # keep-out is polygonal
    bound = zone if keep_out is None else zone.union(keep_out.buffer(2.0))
    outside = ~shapely.contains_xy(bound.buffer(spacing), xy[:, 0], xy[:, 1])
    assert not outside.any(), f"waypoints outside the zone: {xy[outside]}"


@pytest.mark.parametrize("seed", range(48))
def test_random_zone_invariants(seed: int) -> None:
    zone, no_fly, spacing = _zone(seed)
    plan = plan_sweep(zone, spacing_m=spacing, kinematics=KIN, no_fly=no_fly, clearance_m=5.0)
    _check_invariants(zone, no_fly, spacing, 5.0, plan)
    assert plan.angle_deg is not None and 0.0 <= plan.angle_deg < 180.0
    assert plan.cells >= 1
    assert "sweep" in plan.kinds


@pytest.mark.parametrize("seed", [1, 6, 11])
def test_invariants_with_perimeter_and_start(seed: int) -> None:
    zone, no_fly, spacing = _zone(seed)
    plan = plan_sweep(
        zone,
        spacing_m=spacing,
        kinematics=KIN,
        no_fly=no_fly,
        perimeter="before",
        start_xy=(0.0, -600.0),
    )
    _check_invariants(zone.union(Point(0, -600).buffer(1)), no_fly, spacing, 5.0, plan)
    assert np.allclose(plan.waypoints_xy[0], (0.0, -600.0))
    assert plan.kinds[0] == "connect"
    first_sweep = plan.kinds.index("sweep")
    assert "perimeter" in plan.kinds[:first_sweep]


def test_perimeter_only_is_inset_loop() -> None:
    zone = box(0, 0, 400, 300)
    plan = plan_sweep(zone, spacing_m=40.0, kinematics=KIN, perimeter="only")
    assert plan.angle_deg is None and plan.cells == 0
    assert set(plan.kinds) == {"perimeter"}
    assert np.allclose(plan.waypoints_xy[0], plan.waypoints_xy[-1])
    inset = zone.buffer(-20.0)
    assert plan.length_m == pytest.approx(inset.exterior.length)
    assert plan.covered_fraction < 0.5  # reported honestly


def test_no_fly_inside_forces_detour_and_is_avoided() -> None:
    zone = box(0, 0, 600, 400)
    wall = box(280, -50, 320, 330)  # long no-fly strip across most of the zone
    plan = plan_sweep(zone, spacing_m=30.0, kinematics=KIN, no_fly=[wall], clearance_m=10.0)
    _check_invariants(zone, [wall], 30.0, 10.0, plan)
    across = plan_sweep(
        zone, spacing_m=30.0, kinematics=KIN, no_fly=[wall], clearance_m=10.0, angle_deg=0.0
    )
    _check_invariants(zone, [wall], 30.0, 10.0, across)
    assert across.cells >= 2  # lanes across the wall are cut in two
    assert plan.duration_s <= across.duration_s


def test_courtyard_hole_may_be_crossed_and_costs_no_more_than_filled() -> None:
    zone = box(0, 0, 500, 500).difference(box(200, 200, 300, 300))
    plan = plan_sweep(zone, spacing_m=25.0, kinematics=KIN)
    _check_invariants(zone, [], 25.0, 5.0, plan)
    filled = plan_sweep(box(0, 0, 500, 500), spacing_m=25.0, kinematics=KIN)
    assert plan.duration_s <= filled.duration_s + 1e-6


def test_angle_choice_beats_axis_aligned_on_thin_rotated_rectangle() -> None:
    rect = affinity.rotate(box(0, 0, 1500, 80), 28.0, origin=(0, 0))
    best = plan_sweep(rect, spacing_m=30.0, kinematics=KIN)
    axis = plan_sweep(rect, spacing_m=30.0, kinematics=KIN, angle_deg=0.0)
    assert best.duration_s < 0.8 * axis.duration_s
    assert best.angle_deg == pytest.approx(28.0, abs=1.0)
    assert best.covered_fraction >= 0.999


def test_convex_square_close_to_lower_bound() -> None:
    sq = box(0, 0, 480, 480)  # 8 lanes of 60 m exactly
    plan = plan_sweep(sq, spacing_m=60.0, kinematics=KIN)
    ratio = plan.duration_s / lower_bound_s(sq, 60.0, KIN)
    assert 1.0 < ratio < 1.25
    assert plan.covered_fraction == pytest.approx(1.0, abs=1e-6)


def test_narrow_zone_gets_single_centre_lane() -> None:
    strip = box(0, 0, 500, 12)
    plan = plan_sweep(strip, spacing_m=40.0, kinematics=KIN)
    assert plan.kinds == ("sweep",)
    assert np.allclose(plan.waypoints_xy[:, 1], 6.0)
    # exact lane ends: the corner (500, 0) is 6 m off the lane, so the lane may stop
    # sqrt(20^2 - 6^2) short of each end and its round end still reaches it
    cut = math.sqrt(20.0**2 - 6.0**2)
    assert sorted(plan.waypoints_xy[:, 0].tolist()) == pytest.approx([cut, 500.0 - cut])
    assert plan.covered_fraction == pytest.approx(1.0)


def test_forced_angle_is_used() -> None:
    plan = plan_sweep(box(0, 0, 300, 300), spacing_m=50.0, kinematics=KIN, angle_deg=90.0)
    assert plan.angle_deg == pytest.approx(90.0)
    sweeps = [i for i, k in enumerate(plan.kinds) if k == "sweep"]
    d = np.diff(plan.waypoints_xy, axis=0)[sweeps]
    assert np.allclose(d[:, 0], 0.0)


def test_zone_fully_inside_no_fly_raises() -> None:
    with pytest.raises(PlanningError, match="nothing left to cover"):
        plan_sweep(
            box(0, 0, 50, 50), spacing_m=10.0, kinematics=KIN, no_fly=[box(-10, -10, 60, 60)]
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spacing_m": 0.0}, "spacing_m must be > 0"),
        ({"spacing_m": -3.0}, "spacing_m must be > 0"),
        ({"spacing_m": float("nan")}, "spacing_m must be finite"),
        ({"spacing_m": 10.0, "clearance_m": -1.0}, "clearance_m must be >= 0"),
        ({"spacing_m": 10.0, "angle_deg": float("inf")}, "angle_deg must be finite"),
        ({"spacing_m": 10.0, "perimeter": "after"}, "perimeter must be"),
        ({"spacing_m": 10.0, "start_xy": (float("nan"), 0.0)}, "start_xy"),
        ({"spacing_m": 10.0, "perimeter_margin_m": -2.0}, "perimeter_margin_m"),
    ],
)
def test_bad_parameters_raise_planning_error(kwargs: dict, match: str) -> None:
    with pytest.raises(PlanningError, match=match):
        plan_sweep(box(0, 0, 100, 100), kinematics=KIN, **kwargs)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_bad_area_raises_planning_error() -> None:
    with pytest.raises(PlanningError, match="Polygon or MultiPolygon"):
        plan_sweep(LineString([(0, 0), (1, 1)]), spacing_m=5.0, kinematics=KIN)  # type: ignore[arg-type]
    with pytest.raises(PlanningError, match="empty"):
        plan_sweep(Polygon(), spacing_m=5.0, kinematics=KIN)
    with pytest.raises(PlanningError, match="NaN"):
        plan_sweep(Polygon([(0, 0), (1, float("nan")), (1, 1)]), spacing_m=5.0, kinematics=KIN)


def test_start_inside_no_fly_raises() -> None:
    with pytest.raises(PlanningError, match="start_xy"):
        plan_sweep(
            box(0, 0, 100, 100),
            spacing_m=10.0,
            kinematics=KIN,
            no_fly=[box(200, 200, 220, 220)],
            start_xy=(210.0, 210.0),
        )


def test_self_intersecting_area_is_repaired() -> None:
    bowtie = Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])
    plan = plan_sweep(bowtie, spacing_m=10.0, kinematics=KIN)
    assert plan.covered_fraction >= 0.99


@pytest.mark.parametrize("field", ["speed_mps", "accel_mps2", "turn_rate_dps"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_kinematics_validates(field: str, value: float) -> None:
    with pytest.raises(PlanningError, match=f"Kinematics.{field}"):
        Kinematics(**{field: value})


def test_per_cell_lanes_beat_one_shared_layout_on_l_shape() -> None:
    ell = Polygon([(0, 0), (800, 0), (800, 250), (250, 250), (250, 800), (0, 800)])
    rings = cov._rings_of(ell, Polygon())
    shared = cov._sweeps_at(ell, rings, Polygon(), 0.0, 40.0, None, [(math.inf, math.inf)])
    split = cov._sweeps_at(ell, rings, Polygon(), 0.0, 40.0, None, [(80.0, 0.0)])
    assert shared[0].cells == 1 and split[0].cells == 2
    t_shared = flight_time_s(np.vstack(shared[0].runs), KIN)
    t_split = flight_time_s(np.vstack(split[0].runs), KIN)
    assert t_split < t_shared
    for sw in (shared[0], split[0]):
        assert covered_fraction(ell, np.vstack(sw.runs), 40.0) >= 0.999
    # the shared layout stretches a lane 800 m long at the inner corner; per cell none is
    lane_len = [float(np.hypot(*(r[1] - r[0]))) for r in split[0].runs]
    top = [ln for r, ln in zip(split[0].runs, lane_len, strict=True) if r[0, 1] > 250]
    assert max(top) < 250.0


def test_planner_picks_per_cell_layout_on_l_shape() -> None:
    ell = Polygon([(0, 0), (800, 0), (800, 250), (250, 250), (250, 800), (0, 800)])
    plan = plan_sweep(ell, spacing_m=40.0, kinematics=KIN, angle_deg=0.0)
    rings = cov._rings_of(ell, Polygon())
    shared = cov._sweeps_at(ell, rings, Polygon(), 0.0, 40.0, None, [(math.inf, math.inf)])
    assert plan.duration_s < flight_time_s(np.vstack(shared[0].runs), KIN)


@pytest.mark.parametrize("seed", range(6))
def test_two_opt_and_order_never_worse_than_greedy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    entry = rng.uniform(0, 1000, (n, 4, 2))
    exit_ = rng.uniform(0, 1000, (n, 4, 2))
    # make variant 3 - v the reverse of v (entry and exit swapped), as for real cells
    for v in range(2):
        entry[:, 3 - v], exit_[:, 3 - v] = exit_[:, v], entry[:, v]
    rev = np.tile(np.array([3, 2, 1, 0]), (n, 1))
    start = None if seed % 2 else rng.uniform(0, 1000, 2)
    greedy = cov._order_cells(entry, exit_, rev, start, improve=False)
    improved = cov._order_cells(entry, exit_, rev, start)
    g_cost = cov._seq_cost(greedy, entry, exit_, start)
    assert sorted(c for c, _ in improved) == list(range(n))
    assert cov._seq_cost(improved, entry, exit_, start) <= g_cost + 1e-9
    two = cov._two_opt(greedy, entry, exit_, rev, start)
    assert cov._seq_cost(two, entry, exit_, start) <= g_cost + 1e-9


def test_reverse_variant_flies_same_lanes_backwards() -> None:
    for n in (1, 2, 3, 4):
        lanes = [(10.0 * k, -float(k), 50.0 + k) for k in range(n)]
        for v in range(4):
            fwd = np.vstack(cov._serpentine(lanes, v))
            back = np.vstack(cov._serpentine(lanes, cov._reverse_variant(v, n)))
            assert np.allclose(fwd[::-1], back)


def test_convex_square_time_within_hand_derived_bound() -> None:
    # 480 m square at 60 m: 8 lanes of 480 m exactly (d = spacing, so no end can be cut).
    # 8 m/s, 2 m/s^2, 90 deg corners at 4 m/s costing 0.5 s of yaw each:
    #   end lanes (rest -> corner): 4 s + 2 s ramps over 28 m, 452 m cruise = 62.5 s (x2)
    #   inner lanes (corner -> corner): 2 + 2 s over 24 m, 456 m cruise   = 61.0 s (x6)
    #   7 links of 60 m (corner -> corner): 4 s + 36 m cruise             =  8.5 s (x7)
    #   14 corners x 0.5 s yaw                                             =  7.0 s
    # total 557.5 s against the lower bound 480 * 480 / 60 / 8 = 480 s: ratio 1.1615
    sq = box(0, 0, 480, 480)
    plan = plan_sweep(sq, spacing_m=60.0, kinematics=KIN)
    bound = 2 * 62.5 + 6 * 61.0 + 7 * 8.5 + 7.0
    assert plan.duration_s <= bound + 1e-6
    assert plan.duration_s / lower_bound_s(sq, 60.0, KIN) <= 557.5 / 480.0 + 1e-9
    assert plan.covered_fraction == pytest.approx(1.0)


def test_lanes_end_exactly_where_coverage_needs_them() -> None:
    # 500 x 500 at 60 m: 9 lanes 55.6 m apart; each may stop sqrt(30^2 - 27.8^2) short
    sq = box(0, 0, 500, 500)
    plan = plan_sweep(sq, spacing_m=60.0, kinematics=KIN, angle_deg=0.0)
    d = 500.0 / 9
    cut = math.sqrt(30.0**2 - (d / 2) ** 2)
    sweeps = [i for i, k in enumerate(plan.kinds) if k == "sweep"]
    xs = plan.waypoints_xy[sweeps][:, 0]
    assert xs.min() == pytest.approx(cut) and xs.max() == pytest.approx(500.0 - cut)
    assert covered_fraction(sq, plan.waypoints_xy, 60.0) >= 0.9999


# --------------------------------------------------------------------------- flight time


def test_flight_time_straight_leg_trapezoid() -> None:
    # 8 m/s, 2 m/s^2: 4 s and 16 m to cruise, same to stop; 68 m cruise = 8.5 s
    assert flight_time_s(np.array([[0.0, 0.0], [100.0, 0.0]]), KIN) == pytest.approx(16.5)


def test_flight_time_short_leg_triangle() -> None:
    # 4 m never reaches cruise: accelerate 2 m (sqrt(2) s), decelerate 2 m
    assert flight_time_s(np.array([[0.0, 0.0], [0.0, 4.0]]), KIN) == pytest.approx(2 * math.sqrt(2))


def test_flight_time_u_turn_is_stop_plus_yaw() -> None:
    path = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 0.0]])
    assert flight_time_s(path, KIN) == pytest.approx(16.5 + 16.5 + 2.0)  # 180 deg at 90 deg/s


def test_flight_time_straight_through_vertex_is_free_and_repeats_ignored() -> None:
    one = flight_time_s(np.array([[0.0, 0.0], [100.0, 0.0]]), KIN)
    many = flight_time_s(np.array([[0.0, 0.0], [30.0, 0.0], [30.0, 0.0], [100.0, 0.0]]), KIN)
    assert many == pytest.approx(one)


def test_flight_time_right_angle_between_u_turn_and_straight() -> None:
    straight = flight_time_s(np.array([[0.0, 0.0], [200.0, 0.0]]), KIN)
    corner = flight_time_s(np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 100.0]]), KIN)
    u_turn = flight_time_s(np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 0.0]]), KIN)
    assert straight < corner < u_turn


def test_flight_time_degenerate_and_bad() -> None:
    assert flight_time_s(np.zeros((0, 2)), KIN) == 0.0
    assert flight_time_s(np.array([[1.0, 1.0], [1.0, 1.0]]), KIN) == 0.0
    with pytest.raises(PlanningError, match="NaN"):
        flight_time_s(np.array([[0.0, 0.0], [np.nan, 1.0]]), KIN)
    with pytest.raises(PlanningError, match="shape"):
        flight_time_s(np.zeros((3, 3)), KIN)


# --------------------------------------------------------------------------- transit graph


def test_transit_around_square_obstacle_hand_computed() -> None:
    # 20 m square, no clearance: shortest path from (-20, 0) to (20, 0) goes over two corners
    g = TransitGraph([box(-10, -10, 10, 10)], clearance_m=0.0)
    expected = 2 * math.hypot(10, 10) + 20
    assert g.distance_m((-20, 0), (20, 0)) == pytest.approx(expected)
    path = g.path((-20, 0), (20, 0))
    assert path is not None and len(path) == 4
    assert g.blocked((-20, 0), (20, 0))
    assert not g.blocked((-20, 11), (20, 11))
    assert g.distance_m((-20, 11), (20, 11)) == pytest.approx(40.0)


def test_transit_with_clearance_stays_clear_and_is_near_optimal() -> None:
    obstacle = box(-10, -10, 10, 10)
    g = TransitGraph([obstacle], clearance_m=5.0)
    path = g.path((-40, 0), (40, 0))
    assert path is not None
    assert LineString(path).distance(obstacle) >= 5.0 - 1e-6
    # exact optimum: tangent lines to the rounded square; polygonal buffer is slightly longer
    d = g.distance_m((-40, 0), (40, 0))
    assert 80.0 < d < 80.0 + 15.0


def test_transit_unreachable_inside_closed_ring() -> None:
    ring = box(-100, -100, 100, 100).difference(box(-60, -60, 60, 60))
    g = TransitGraph([ring], clearance_m=5.0)
    assert g.path((0, 0), (300, 0)) is None
    assert g.distance_m((0, 0), (300, 0)) == math.inf
    assert g.distance_m((0, 0), (20, 20)) == pytest.approx(math.hypot(20, 20))


def test_transit_several_obstacles_matches_brute_force_bound() -> None:
    rng = np.random.default_rng(3)
    obstacles = [box(x, y, x + 30, y + 30) for x, y in rng.uniform(-200, 200, (6, 2))]
    g = TransitGraph(obstacles, clearance_m=3.0)
    keep_out = shapely.union_all(obstacles).buffer(2.0)
    for _ in range(10):
        a, b = rng.uniform(-300, 300, (2, 2))
        if g.blocked_many(np.stack([a, b]), np.stack([a, b])).any():
            continue
        path = g.path(a, b)
        assert path is not None
        assert not LineString(path).intersects(keep_out)
        assert g.distance_m(a, b) >= math.dist(a, b) - 1e-9


def test_transit_bad_input() -> None:
    with pytest.raises(PlanningError, match="clearance_m"):
        TransitGraph([], clearance_m=float("nan"))
    with pytest.raises(PlanningError, match=r"no_fly\[0\]"):
        TransitGraph([Point(0, 0)])  # type: ignore[list-item]
    g = TransitGraph([])
    with pytest.raises(PlanningError, match="start_xy"):
        g.path((0, float("nan")), (1, 1))


# --------------------------------------------------------------------------- coverage measure


def test_covered_fraction_hand_checked() -> None:
    sq = box(0, 0, 100, 100)
    half = covered_fraction(sq, np.array([[0.0, 25.0], [100.0, 25.0]]), 50.0)
    assert half == pytest.approx(0.5)
    assert covered_fraction(sq, np.zeros((0, 2)), 10.0) == 0.0
    with pytest.raises(PlanningError, match="spacing_m"):
        covered_fraction(sq, np.array([[0.0, 0.0], [1.0, 1.0]]), 0.0)


# --------------------------------------------------------------------------- layouts and search


@pytest.mark.parametrize("seed", range(100, 112))
def test_best_of_layouts_never_slower_than_either_alone(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone, no_fly, spacing = _zone(seed)
    both = plan_sweep(zone, spacing_m=spacing, kinematics=KIN, no_fly=no_fly)
    for layout in (cov.layout_cells, cov.layout_bands):
        with monkeypatch.context() as m:
            m.setattr(cov, "_LAYOUTS", (layout,))
            alone = plan_sweep(zone, spacing_m=spacing, kinematics=KIN, no_fly=no_fly)
        _check_invariants(zone, no_fly, spacing, 5.0, alone)
        assert both.duration_s <= alone.duration_s + 1e-6, layout.__name__


def test_each_layout_covers_its_frame() -> None:
    ell = Polygon([(0, 0), (800, 0), (800, 250), (250, 250), (250, 800), (0, 800)])
    rings = cov._rings_of(ell, Polygon())
    for angle in (0.0, 33.0, 90.0):
        frame = cov._Frame.at(ell, rings, Polygon(), angle)
        for layout in cov._LAYOUTS:
            sweeps = layout(frame, 40.0, None)
            assert sweeps, layout.__name__
            for sw in sweeps:
                assert sw.angle_deg == pytest.approx(angle)
                assert covered_fraction(ell, np.vstack(sw.runs), 40.0) >= 0.999


def test_screening_estimate_tracks_real_time_on_rectangle() -> None:
    # a 1200 x 200 rectangle: lanes along it are far faster than across; the screen agrees
    rect = affinity.rotate(box(0, 0, 1200, 200), 40.0, origin=(0, 0))
    est = cov._screen_angles(rect, 50.0, KIN, np.array([40.0, 130.0]))
    real = [
        plan_sweep(rect, spacing_m=50.0, kinematics=KIN, angle_deg=a).duration_s
        for a in (40.0, 130.0)
    ]
    assert est[0] < est[1] and real[0] < real[1]
    assert est[0] == pytest.approx(real[0], rel=0.1)
    assert cov._best_angles(rect, 50.0, KIN, 1)[0] == pytest.approx(40.0, abs=0.5)


def test_batch_flight_time_matches_single() -> None:
    rng = np.random.default_rng(5)
    paths = rng.uniform(0, 300, (20, 9, 2))
    paths[10:, 6:] = paths[10:, 5:6]  # rows ending in repeats of their last point
    batch = cov._flight_times(paths, KIN)
    single = [flight_time_s(p if i < 10 else p[:6], KIN) for i, p in enumerate(paths)]
    assert batch == pytest.approx(single)


@pytest.mark.parametrize("radius_m", [12.0, 40.0])
def test_keep_out_inside_zone_detour_is_safe_and_no_slower(
    radius_m: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a no-fly area in the middle of a field: lanes may be split round it or fly round it
    zone = box(0, 0, 900, 600)
    pole = [Point(450, 300).buffer(radius_m, quad_segs=4)]
    plan = plan_sweep(zone, spacing_m=40.0, kinematics=KIN, no_fly=pole)
    _check_invariants(zone, pole, 40.0, 5.0, plan)
    monkeypatch.setattr(cov, "_TRY_DETOURS", False)
    split_only = plan_sweep(zone, spacing_m=40.0, kinematics=KIN, no_fly=pole)
    _check_invariants(zone, pole, 40.0, 5.0, split_only)
    assert plan.duration_s <= split_only.duration_s + 1e-6
    # the band layout's lanes run through a small keep-out (cut and joined round it)
    assert radius_m > 20.0 or plan.cells == 1


def _city(seed: int, n: int) -> list[tuple[Polygon, list[Polygon]]]:
    rng = np.random.default_rng(seed)
    zones = []
    for _ in range(n):
        c = rng.uniform(-3000, 3000, 2)
        kind = int(rng.integers(3))
        if kind == 0:
            z = shapely.convex_hull(shapely.multipoints(c + rng.uniform(-250, 250, (8, 2))))
        else:
            z = _star(rng, int(rng.integers(6, 24)), float(rng.uniform(120, 300)), tuple(c))
        nf = []
        if kind == 2:
            nf = [Point(c + rng.uniform(-70, 70, 2)).buffer(30.0, quad_segs=4)]
        zones.append((z, nf))
    return zones


def test_seeded_sixty_zone_city_covers_and_avoids_no_fly() -> None:
    city = _city(2024, 60)
    no_fly = [p for _, nf in city for p in nf]
    graph = TransitGraph(no_fly, clearance_m=5.0)
    keep_out = shapely.union_all(no_fly).buffer(4.0)
    buffered = shapely.union_all(no_fly).buffer(5.0)
    for zone, _ in city:
        plan = plan_sweep(zone, spacing_m=40.0, kinematics=KIN, transit=graph)
        assert plan.covered_fraction >= 0.99
        assert covered_fraction(zone.difference(buffered), plan.waypoints_xy, 40.0) >= 0.99
        xy = plan.waypoints_xy
        legs = shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
        assert not shapely.intersects(legs, keep_out).any()


@pytest.mark.parametrize("seed", [159, 343, 355, 389, *range(200, 212)])
def test_never_slower_than_axis_aligned_with_same_guarantees(seed: int) -> None:
    # the fair baseline: our own lanes forced to 0 degrees, same coverage and no-fly rules;
    # the angle search evaluates it fully and keeps it if nothing assembled is faster
    # (seeds 159, 343, 355 and 389 lost to it by 0.7-1.7% before 0 degrees was a candidate)
    zone, no_fly, spacing = _zone(seed)
    best = plan_sweep(zone, spacing_m=spacing, kinematics=KIN, no_fly=no_fly)
    axis = plan_sweep(zone, spacing_m=spacing, kinematics=KIN, no_fly=no_fly, angle_deg=0.0)
    _check_invariants(zone, no_fly, spacing, 5.0, best)
    _check_invariants(zone, no_fly, spacing, 5.0, axis)
    assert best.duration_s <= axis.duration_s + 1e-6 or axis.covered_fraction < 0.995


def test_axis_aligned_kept_when_it_is_the_best() -> None:
    # an axis-aligned 1200 x 90 strip: 0 degrees is optimal, the plan must not lose to it
    strip = box(0, 0, 1200, 90)
    best = plan_sweep(strip, spacing_m=30.0, kinematics=KIN)
    axis = plan_sweep(strip, spacing_m=30.0, kinematics=KIN, angle_deg=0.0)
    assert best.duration_s <= axis.duration_s + 1e-6
    assert best.angle_deg == pytest.approx(0.0, abs=1e-9) or best.duration_s < axis.duration_s


@pytest.mark.parametrize("angle", [0.0, 17.0, 90.0])
def test_band_lanes_exact_ends_cover_every_piece(angle: float) -> None:
    # a jagged star: band lanes are cut at both ends, yet every point stays within reach
    zone = _star(np.random.default_rng(9), 60, 400.0)
    frame = cov._Frame.at(zone, cov._rings_of(zone, Polygon()), Polygon(), angle)
    bands = cov._band_lanes(frame.free_rot, 40.0)
    lanes = [lane for _, band in bands for lane in band]
    uncut = 0.0  # the same bands, each connected piece spanned from end to end
    for y in {lane[0] for lane in lanes}:
        strip = shapely.clip_by_rect(frame.free_rot, -1e4, y - 20, 1e4, y + 20)
        spans = sorted((p.bounds[0], p.bounds[2]) for p in shapely.get_parts(strip))
        right = -math.inf
        for x0, x1 in spans:
            uncut += max(0.0, x1 - max(x0, right))
            right = max(right, x1)
    assert sum(x1 - x0 for _, x0, x1 in lanes) < uncut  # the ends really are cut
    swath = shapely.union_all(
        [LineString([(x0, y), (x1, y)]).buffer(20.0, quad_segs=16) for y, x0, x1 in lanes]
    )
    assert frame.free_rot.difference(swath).area <= 1e-4 * frame.free_rot.area
