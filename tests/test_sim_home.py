"""dronepatrol.sim home handling like ArduCopter (AP_Arming_Copter::arm): home moves to where
the vehicle arms unless a GCS set it with DO_SET_HOME. Driven clock, real sockets."""

from __future__ import annotations

import os

os.environ.setdefault("MAVLINK20", "1")

import math  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from pymavlink import mavutil  # noqa: E402

from dronepatrol.sim import SimFleet, free_port_block  # noqa: E402
from dronepatrol.sim.cli import HOME_OFFSET_M  # noqa: E402

HOME = (47.397742, 8.545594, 488.0, 90.0)
GUIDED, LAND = 4, 9
EARTH_M_PER_DEG = 111319.49


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    with SimFleet(vehicles=3, home=HOME, clock="driven", base_port=free_port_block(3), seed=5,
                  ready_delay_s=1.0, params={"SIM_WIND_TURB": 0.0, "WP_SPD": 10.0}) as f:
        f.advance(2.0)
        yield f


class Gcs:
    """A small pymavlink ground station for one vehicle."""

    def __init__(self, fleet: SimFleet, i: int) -> None:
        self.fleet = fleet
        self.i = i
        self.m = mavutil.mavlink_connection(fleet.connection_string(i), source_system=255,
                                            source_component=190)
        self.target = fleet.sysid(i)
        self.seen: list[Any] = []

    def close(self) -> None:
        self.m.close()

    def recv(self, kind: str, cond: Callable[[Any], bool] | None = None,
             timeout: float = 5.0) -> Any:
        """The next ``kind`` message matching ``cond``; every message read stays in ``seen``
        (a HOME_POSITION may come just before the COMMAND_ACK of the arming)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.m.recv_match(blocking=True, timeout=0.2)
            if msg is None:
                continue
            self.seen.append(msg)
            if msg.get_type() == kind and (cond is None or cond(msg)):
                return msg
        return None

    def command(self, cmd: int, *p: float) -> int:
        params = list(p) + [0.0] * (7 - len(p))
        self.m.mav.command_long_send(self.target, 1, cmd, 0, *params)
        ack = self.recv("COMMAND_ACK", lambda a: a.command == cmd)
        assert ack is not None, f"no COMMAND_ACK for command {cmd}"
        return int(ack.result)

    def home(self) -> tuple[float, float, float]:
        """HOME_POSITION as answered to MAV_CMD_GET_HOME_POSITION: (lat, lon, alt AMSL)."""
        assert self.command(410) == 0
        msg = self.recv("HOME_POSITION")
        assert msg is not None
        return msg.latitude * 1e-7, msg.longitude * 1e-7, msg.altitude / 1000.0

    def state(self) -> dict[str, Any]:
        return self.fleet.vehicle_state(self.i)

    def until(self, done: Callable[[dict[str, Any]], bool], limit_s: float = 240.0
              ) -> dict[str, Any]:
        waited = 0.0
        while not done(st := self.state()):
            assert waited < limit_s, f"vehicle {self.i} not there after {limit_s} s: {st}"
            self.fleet.advance(2.0)
            waited += 2.0
        return st

    def take_off(self, alt_m: float) -> None:
        assert self.command(176, 1, GUIDED) == 0
        assert self.command(400, 1) == 0
        assert self.command(22, 0, 0, 0, 0, 0, 0, alt_m) == 0
        self.until(lambda s: s["alt_m"] > alt_m - 0.5)

    def goto(self, lat: float, lon: float, alt_m: float) -> None:
        self.m.mav.set_position_target_global_int_send(
            0, self.target, 1, 6, 0b110111111000, round(lat * 1e7), round(lon * 1e7), alt_m,
            0, 0, 0, 0, 0, 0, 0, 0)
        self.until(lambda s: metres(s["lat_deg"], s["lon_deg"], lat, lon) < 2.0)

    def land_here(self) -> dict[str, Any]:
        assert self.command(176, 1, LAND) == 0
        return self.until(lambda s: s["landed"] and not s["armed"])


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return math.hypot((lat2 - lat1) * EARTH_M_PER_DEG,
                      (lon2 - lon1) * EARTH_M_PER_DEG * math.cos(math.radians(lat1)))


def offset(north_m: float, east_m: float) -> tuple[float, float]:
    return (HOME[0] + north_m / EARTH_M_PER_DEG,
            HOME[1] + east_m / (EARTH_M_PER_DEG * math.cos(math.radians(HOME[0]))))


def test_arming_at_another_base_moves_home_there_and_rtl_returns_to_it(fleet: SimFleet) -> None:
    g = Gcs(fleet, 0)
    try:
        boot_home = g.home()
        assert metres(*boot_home[:2], *HOME[:2]) < 0.05
        g.take_off(20.0)
        base_b = offset(300.0, 200.0)
        g.goto(*base_b, 20.0)
        landed = g.land_here()
        assert metres(landed["lat_deg"], landed["lon_deg"], *HOME[:2]) > 300.0
        assert g.home()[:2] == pytest.approx(boot_home[:2], abs=1e-7)  # not moved yet

        assert g.command(176, 1, GUIDED) == 0
        g.seen.clear()
        assert g.command(400, 1) == 0
        fleet.advance(0.2)
        g.recv("HEARTBEAT", timeout=1.0)
        # HOME_POSITION is broadcast when home moves, as Copter does
        pushed = [m for m in g.seen if m.get_type() == "HOME_POSITION"]
        assert pushed, "no HOME_POSITION after arming"
        after = g.state()
        # the vehicle did not move; its local frame is now centred on the new home
        assert after["lat_deg"] == pytest.approx(landed["lat_deg"], abs=1e-8)
        assert after["lon_deg"] == pytest.approx(landed["lon_deg"], abs=1e-8)
        assert math.hypot(after["north_m"], after["east_m"]) < 1e-3
        home = g.home()
        assert metres(*home[:2], landed["lat_deg"], landed["lon_deg"]) < 0.05
        assert pushed[-1].latitude == round(home[0] * 1e7)
        assert home[2] == pytest.approx(boot_home[2], abs=0.01)  # flat ground

        g.take_off(20.0)
        g.goto(*offset(150.0, 400.0), 25.0)
        assert g.command(20) == 0  # NAV_RETURN_TO_LAUNCH
        back = g.until(lambda s: s["landed"] and not s["armed"], limit_s=300.0)
        assert metres(back["lat_deg"], back["lon_deg"], *home[:2]) < 3.0
        assert metres(back["lat_deg"], back["lon_deg"], *HOME[:2]) > 300.0
    finally:
        g.close()


def test_home_set_by_a_gcs_survives_arming(fleet: SimFleet) -> None:
    g = Gcs(fleet, 1)
    try:
        start = g.state()
        assert g.command(179, 1) == 0  # DO_SET_HOME at the current location: locked
        locked = g.home()
        g.take_off(15.0)
        g.goto(*offset(-200.0, 150.0), 15.0)
        g.land_here()
        assert g.command(176, 1, GUIDED) == 0
        assert g.command(400, 1) == 0
        assert g.home()[:2] == pytest.approx(locked[:2], abs=1e-7)
        st = g.state()  # still in the frame of the locked home, 250 m away
        away = metres(locked[0], locked[1], st["lat_deg"], st["lon_deg"])
        assert away > 200.0
        assert math.hypot(st["north_m"], st["east_m"]) == pytest.approx(away, abs=0.5)
        assert metres(locked[0], locked[1], start["lat_deg"], start["lon_deg"]) < 0.05
        assert g.command(400, 0) == 0
    finally:
        g.close()


def test_explicit_home_elsewhere_keeps_the_vehicle_and_ground_in_place(fleet: SimFleet) -> None:
    g = Gcs(fleet, 2)
    try:
        before = g.state()
        lat, lon = offset(100.0, -50.0)
        assert g.command(179, 0, 0, 0, 0, lat, lon, HOME[2] + 10.0) == 0
        home = g.home()
        assert home == pytest.approx((lat, lon, HOME[2] + 10.0), abs=1e-6)
        st = g.state()
        assert st["lat_deg"] == pytest.approx(before["lat_deg"], abs=1e-8)
        assert st["lon_deg"] == pytest.approx(before["lon_deg"], abs=1e-8)
        assert st["north_m"] == pytest.approx(-100.0, abs=0.5)
        assert st["east_m"] == pytest.approx(50.0 + 2 * HOME_OFFSET_M, abs=0.5)  # vehicle 2
        assert st["alt_m"] == pytest.approx(-10.0, abs=1e-6)  # on the ground, 10 m below home
        fleet.advance(2.0)
        assert g.state()["alt_m"] == pytest.approx(-10.0, abs=1e-6)
    finally:
        g.close()
