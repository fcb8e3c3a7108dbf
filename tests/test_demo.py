"""The demo: the example city planned for 6 drones, one patrol cycle flown on the built-in
simulator over real sockets, and the proof of coverage: every zone with a message heard a
complete message over at least 99 % of its area."""

import json

import pytest

from dronepatrol.demo import cycle_sorties, example_zones_path, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return run_demo(out, speedup=120.0, progress=False)


def test_demo_flies_every_drone_without_error(demo):
    assert demo["failed"] == []
    assert len(demo["vehicles"]) == 6
    for v in demo["vehicles"]:
        assert v.sorties_flown == v.sorties_planned >= 1
        assert all(0 < used < 80 for used in v.battery_used_pct)  # within endurance
        assert "fence_breach" not in v.events and "failsafe" not in v.events, v.events


def test_every_zone_with_a_message_is_heard(demo):
    rows = demo["rows"]
    assert len(rows) == 6
    for r in rows:
        assert r["heard_fraction"] >= 0.99, r


def test_demo_writes_the_pictures_and_report(demo):
    for name in ("map.png", "coverage.png", "schedule.png", "report.json"):
        assert demo["files"][name].stat().st_size > 1000, name
    rep = json.loads(demo["files"]["report.json"].read_text())
    assert {z["zone"] for z in rep["zones"]} == {r["zone"] for r in demo["rows"]}




def test_example_zones_shipped_with_the_package():
    assert example_zones_path().read_bytes().startswith(b"{")


def test_cycle_sorties_picks_first_passes():
    class P:
        def __init__(self, zone, part):
            self.zone, self.part = zone, part

    class S:
        def __init__(self, start, passes):
            self.start_s, self.passes = start, passes

    class D:
        def __init__(self, name):
            self.name = name

    class Sched:
        drones = [D("a"), D("b")]
        sorties = {"a": [S(0, [P("z", 0)]), S(100, [P("y", 0)]), S(200, [P("z", 0)])],
                   "b": [S(50, [P("y", 0)]), S(150, [P("x", 0)])]}

    assert cycle_sorties(Sched()) == {"a": 1, "b": 2}
