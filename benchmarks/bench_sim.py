"""Simulator speed: simulated seconds per wall second for 1, 6 and 20 vehicles.

Each vehicle flies a 30-minute patrol (takeoff, a long lawnmower of waypoints at 20 m/s,
repeated with DO_JUMP) with one pymavlink ground station per vehicle streaming telemetry at
4 Hz. The driven clock runs the simulation as fast as one core allows; the baseline is real
time (1x), i.e. what ArduPilot SITL without speedup gives. CPU per vehicle is the simulator
process's CPU time divided by vehicles and by simulated seconds.

Run: .venv/bin/python benchmarks/bench_sim.py [--minutes 30]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time

os.environ.setdefault("MAVLINK20", "1")

from pymavlink import mavutil  # noqa: E402

from dronepatrol import mission as mc  # noqa: E402
from dronepatrol.sim import SimFleet, free_port_block  # noqa: E402

HOME = (-35.363261, 149.165230, 584.0, 0.0)


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _upload(m: mavutil.mavfile, sysid: int, items: list[tuple[int, float, float, float, float,
                                                               float]]) -> None:
    m.mav.mission_count_send(sysid, 1, len(items), 0)
    while True:
        msg = m.recv_match(type=["MISSION_REQUEST", "MISSION_ACK"], blocking=True, timeout=5)
        if msg is None or msg.get_type() == "MISSION_ACK":
            return
        cmd, p1, p2, lat, lon, alt = items[msg.seq]
        m.mav.mission_item_int_send(sysid, 1, msg.seq, 3, cmd, 0, 1, p1, p2, 0, 0,
                                    round(lat * 1e7), round(lon * 1e7), alt, 0)


def patrol(home: tuple[float, float, float, float]) -> list[tuple[int, float, float, float,
                                                                 float, float]]:
    lat0, lon0 = home[0], home[1]
    k = 111319.49
    items = [(16, 0, 0, lat0, lon0, 0), (mc.NAV_TAKEOFF, 0, 0, 0, 0, 30),
             (mc.DO_CHANGE_SPEED, 1, 20, 0, 0, 0)]
    for row in range(10):
        n = row * 60.0
        for e in ((0.0, 800.0) if row % 2 == 0 else (800.0, 0.0)):
            items.append((mc.NAV_WAYPOINT, 0, 0, lat0 + n / k,
                          lon0 + e / (k * math.cos(math.radians(lat0))), 30))
    items.append((mc.DO_JUMP, 4, -1, 0, 0, 0))  # patrol forever
    return items


def run(vehicles: int, minutes: float) -> tuple[float, float, float]:
    with SimFleet(vehicles=vehicles, home=HOME, clock="driven", ready_delay_s=1.0,
                  base_port=free_port_block(vehicles)) as fleet:
        gcs = []
        fleet.advance(2.0)
        for i in range(vehicles):
            m = mavutil.mavlink_connection(fleet.connection_string(i), source_system=255)
            m.recv_match(type="HEARTBEAT", blocking=True, timeout=5)
            _upload(m, i + 1, patrol(HOME))
            for cmd, p in ((176, (1, 4)), (400, (1,)), (300, ())):
                params = list(p) + [0.0] * (7 - len(p))
                m.mav.command_long_send(i + 1, 1, cmd, 0, *params)
            m.mav.request_data_stream_send(i + 1, 1, 0, 4, 1)
            gcs.append(m)
        cpu0 = _children_cpu_s()
        sim0 = fleet.sim_time_s()
        wall0 = time.perf_counter()
        chunk = 60.0
        done = 0.0
        while done < minutes * 60.0:
            fleet.advance(chunk)
            done += chunk
            for m in gcs:  # the clients keep up: read everything the sim sent
                while m.recv_match(blocking=False) is not None:
                    pass
        wall = time.perf_counter() - wall0
        sim = fleet.sim_time_s() - sim0
        st = fleet.vehicle_state(0)
        assert st["armed"] and st["alt_m"] > 20, st
        for m in gcs:
            m.close()
    cpu = _children_cpu_s() - cpu0
    fleet.cleanup()
    return sim / wall, cpu, sim


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--vehicles", type=int, nargs="*", default=[1, 6, 20])
    args = ap.parse_args()
    print(f"patrol of {args.minutes:g} simulated minutes, telemetry 4 Hz per vehicle")
    print(f"{'vehicles':>8} {'sim s / wall s':>15} {'vs real time':>13} "
          f"{'CPU ms per vehicle per sim s':>29}")
    print(f"{'baseline':>8} {1.0:>15.1f} {'1x':>13} {'-':>29}")
    for n in args.vehicles:
        rate, cpu, sim = run(n, args.minutes)
        print(f"{n:>8} {rate:>15.1f} {f'{rate:.0f}x':>13} {cpu / n / sim * 1000:>29.3f}")


if __name__ == "__main__":
    main()
