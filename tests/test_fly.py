"""Flying a plan directory on the built-in simulator over real sockets: upload, arm, follow,
land; the flown track avoids no-fly areas; pre-flight checks refuse before anything flies."""

import dataclasses
import json

import numpy as np
import pytest
from pymavlink import mavutil
from shapely.geometry import LineString, box

from common import city
from dronepatrol import mission as ms
from dronepatrol.cli import main
from dronepatrol.errors import DronePatrolError
from dronepatrol.fly import fly_plan, load_flight_plan
from dronepatrol.output import write_plan_dir
from dronepatrol.plan import PlanOptions, plan_patrol
from dronepatrol.sim import SimFleet
from dronepatrol.sim.fleet import free_port_block


@pytest.fixture(scope="module")
def small_plan(tmp_path_factory):
    zs = city(("A", "sealed", box(0, 0, 300, 200)), ("H", "no_fly", box(400, -100, 500, 300)),
              ("B", "controlled", box(600, -50, 800, 150)))
    plan = plan_patrol(zs, PlanOptions(spacing_m=80, altitude_m=30, speed_mps=8))
    d = tmp_path_factory.mktemp("fly")
    write_plan_dir(plan, d)
    return plan, d


def sim_for(plan, vehicles=1, **kw):
    b = plan.bases[0]
    return SimFleet(vehicles=vehicles, home=(b.lat_deg, b.lon_deg, 100.0, 0.0), speedup=50,
                    base_port=free_port_block(vehicles), **kw)


def test_fly_small_plan_end_to_end(small_plan):
    plan, d = small_plan
    with sim_for(plan) as fleet:
        (res,) = fly_plan(d, [fleet.connection_string(0)], connect_timeout_s=60)
    assert res.error is None, res.error
    assert res.sorties_flown == 1
    assert res.battery_used_pct and res.battery_used_pct[0] > 0
    # the tlog is a real MAVLink log: every NAV item of the mission was reached
    _, items = ms.read_waypoints(d / "route-1.waypoints")
    nav = [i + 1 for i, it in enumerate(items) if it.command in (ms.NAV_TAKEOFF, ms.NAV_WAYPOINT)]
    log = mavutil.mavlink_connection(str(res.tlog))
    reached = set()
    while (m := log.recv_match(type="MISSION_ITEM_REACHED")) is not None:
        reached.add(m.seq)
    log.close()
    assert set(nav) <= reached
    # the flown track never entered the no-fly area, and ended on the ground at home
    track = [json.loads(line) for line in res.track.read_text().splitlines()]
    times = [t["t_s"] for t in track]
    assert times == sorted(times) and times[-1] - times[0] > 300  # vehicle (simulated) time
    pts = np.array([(t["lon"], t["lat"]) for t in track])
    local = plan.frame.xy_to_local(pts)
    (nf,) = plan.no_fly_local
    assert not LineString(local).intersects(nf.buffer(-2.0))
    progress = [json.loads(line) for line in
                (res.tlog.parent / "vehicle-1.progress.jsonl").read_text().splitlines()]
    assert progress[-1]["armed"] is False
    home = np.asarray(plan.base_xy(plan.bases[0].name))
    assert np.hypot(*(local[-1] - home)) < 15.0
    # covered the zones: the track passes over both
    for name in ("A", "B"):
        zone = plan.frame.geometry_to_local(plan.zoneset.zone(name).geometry)
        assert LineString(local).intersects(zone)


def test_preflight_refuses_before_anything_flies(small_plan, tmp_path):
    plan, d = small_plan
    fp = load_flight_plan(d)
    (sortie,) = fp.vehicles[0]
    too_high = tuple(dataclasses.replace(it, alt_m=300.0) if it.command == ms.NAV_WAYPOINT
                     else it for it in sortie.mission)
    bad = dataclasses.replace(fp, vehicles=((dataclasses.replace(sortie, mission=too_high),),))
    with sim_for(plan) as fleet:
        (res,) = fly_plan(bad, [fleet.connection_string(0)], out_dir=tmp_path,
                          connect_timeout_s=60)
        state = fleet.vehicle_state(0)
    assert res.error is not None and "300" in res.error
    assert res.sorties_flown == 0
    assert not state.get("armed", False)


def test_more_vehicles_than_connections(small_plan):
    _, d = small_plan
    with pytest.raises(DronePatrolError, match="1 vehicle.*0 connection"):
        fly_plan(d, [])


def test_cli_fly_with_builtin_sim(small_plan, capsys):
    _, d = small_plan
    rc = main(["fly", str(d), "--sim", "--speedup", "50"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "1/1 sorties" in out and "ok" in out


def test_cli_fly_needs_a_vehicle(small_plan, capsys):
    _, d = small_plan
    assert main(["fly", str(d)]) == 2
    assert "--connect URL" in capsys.readouterr().err


def test_ctrl_c_sends_every_drone_home(small_plan):
    """`dronepatrol fly` interrupted mid-mission commands RTL before it exits."""
    import os
    import signal
    import subprocess
    import sys
    import time

    plan, d = small_plan
    b = plan.bases[0]
    with SimFleet(vehicles=1, home=(b.lat_deg, b.lon_deg, 100.0, 0.0), speedup=5,
                  base_port=free_port_block(1)) as fleet:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dronepatrol.cli", "fly", str(d), "--connect",
             fleet.connection_string(0), "--timeout-s", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 120
            state = fleet.vehicle_state(0)
            while not (state["armed"] and state["alt_m"] > 10 and state["mode"] == 3):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, state
                time.sleep(0.2)  # waiting for an external process, not for the simulation
                state = fleet.vehicle_state(0)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        assert fleet.vehicle_state(0)["mode"] == 6  # RTL
