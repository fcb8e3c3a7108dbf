"""dronepatrol.sim on the wire: heartbeat, streams, params, commands, mission protocol, fuzz.

A plain pymavlink client in this process talks to the simulator subprocess over real sockets;
the simulator runs on the driven clock, so no test waits for simulated time to pass.
"""

from __future__ import annotations

import os

os.environ.setdefault("MAVLINK20", "1")

import random  # noqa: E402
import socket  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from pymavlink import mavutil  # noqa: E402
from pymavlink.dialects.v20 import ardupilotmega as mavlink  # noqa: E402

from dronepatrol import mission as mc  # noqa: E402
from dronepatrol.errors import SimError  # noqa: E402
from dronepatrol.sim import SimFleet, free_port_block  # noqa: E402

HOME = (-35.363261, 149.165230, 584.0, 0.0)
TIMEOUT_S = 5.0


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    with SimFleet(vehicles=2, home=HOME, clock="driven", base_port=free_port_block(2),
                  seed=1, ready_delay_s=3.0) as f:
        yield f
    f.cleanup()


class Gcs:
    """A minimal ground station on pymavlink, used only by these tests."""

    def __init__(self, address: str, sysid: int = 255, compid: int = 190,
                 target: int = 1) -> None:
        self.m = mavutil.mavlink_connection(address, source_system=sysid,
                                            source_component=compid)
        self.target = target

    def close(self) -> None:
        self.m.close()

    def recv(self, types: str | list[str], cond: Any = None, timeout: float = TIMEOUT_S) -> Any:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.m.recv_match(type=types, blocking=True, timeout=0.2)
            if msg is not None and (cond is None or cond(msg)):
                return msg
        return None

    def drain(self) -> None:
        while self.m.recv_match(blocking=False) is not None:
            pass

    def command(self, cmd: int, *p: float, compid: int = 1) -> Any:
        params = list(p) + [0.0] * (7 - len(p))
        self.m.mav.command_long_send(self.target, compid, cmd, 0, *params)
        return self.recv("COMMAND_ACK", lambda a: a.command == cmd)

    def command_int(self, cmd: int, frame: int, x: int, y: int, z: float, *p: float) -> Any:
        params = list(p) + [0.0] * (4 - len(p))
        self.m.mav.command_int_send(self.target, 1, frame, cmd, 0, 0, *params, x, y, z)
        return self.recv("COMMAND_ACK", lambda a: a.command == cmd)

    def param(self, name: str) -> Any:
        self.m.mav.param_request_read_send(self.target, 1, name.encode(), -1)
        return self.recv("PARAM_VALUE", lambda p: p.param_id == name)

    def upload(self, items: list[mc.MissionItem], mission_type: int = 0,
               with_home: bool = True) -> Any:
        """Upload; returns the vehicle's final MISSION_ACK (or None)."""
        wire = list(items)
        if mission_type == 0 and with_home:
            wire.insert(0, mc.MissionItem(command=16, frame=0, lat_deg=HOME[0],
                                          lon_deg=HOME[1], alt_m=HOME[2]))
        self.m.mav.mission_count_send(self.target, 1, len(wire), mission_type)
        while True:
            msg = self.recv(["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"],
                            lambda x: x.mission_type == mission_type)
            if msg is None or msg.get_type() == "MISSION_ACK":
                return msg
            self.send_item(wire[msg.seq], msg.seq, mission_type)

    def send_item(self, it: mc.MissionItem, seq: int, mission_type: int) -> None:
        self.m.mav.mission_item_int_send(
            self.target, 1, seq, it.frame, it.command, 0, int(it.autocontinue), it.param1,
            it.param2, it.param3, it.param4, int(round(it.lat_deg * 1e7)),
            int(round(it.lon_deg * 1e7)), it.alt_m, mission_type)

    def download(self, mission_type: int = 0, use_int: bool = True) -> list[Any]:
        self.m.mav.mission_request_list_send(self.target, 1, mission_type)
        cnt = self.recv("MISSION_COUNT", lambda x: x.mission_type == mission_type)
        assert cnt is not None
        out = []
        for seq in range(cnt.count):
            if use_int:
                self.m.mav.mission_request_int_send(self.target, 1, seq, mission_type)
                it = self.recv("MISSION_ITEM_INT", lambda x, s=seq: x.seq == s)
            else:
                self.m.mav.mission_request_send(self.target, 1, seq, mission_type)
                it = self.recv("MISSION_ITEM", lambda x, s=seq: x.seq == s)
            assert it is not None, f"no item {seq}"
            out.append(it)
        self.m.mav.mission_ack_send(self.target, 1, 0, mission_type)
        return out


@pytest.fixture
def gcs(fleet: SimFleet) -> Iterator[Gcs]:
    g = Gcs(fleet.connection_string(0))
    assert g.recv("HEARTBEAT") is not None
    yield g
    g.close()


def wp(north_m: float, east_m: float, alt_m: float, cmd: int = mc.NAV_WAYPOINT,
       **kw: Any) -> mc.MissionItem:
    lat = HOME[0] + north_m / 111319.49
    lon = HOME[1] + east_m / (111319.49 * 0.815)
    return mc.MissionItem(command=cmd, lat_deg=lat, lon_deg=lon, alt_m=alt_m, **kw)


def square(n: float, e: float, size: float, cmd: int, count: float | None = None
           ) -> list[mc.MissionItem]:
    pts = [(n, e), (n + size, e), (n + size, e + size), (n, e + size)]
    return [wp(a, b, 0, cmd=cmd, param1=len(pts) if count is None else count,
               mission_type=mc.FENCE) for a, b in pts]


# ---------------------------------------------------------------------- heartbeat and streams
def test_heartbeat_is_an_arducopter_quad(gcs: Gcs) -> None:
    hb = gcs.recv("HEARTBEAT")
    assert hb.type == mavlink.MAV_TYPE_QUADROTOR
    assert hb.autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA
    assert hb.base_mode & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    assert hb.get_srcSystem() == 1 and hb.get_srcComponent() == 1


def test_vehicles_have_their_own_port_and_sysid(fleet: SimFleet) -> None:
    g = Gcs(fleet.connection_string(1), target=2)
    try:
        hb = g.recv("HEARTBEAT")
        assert hb is not None and hb.get_srcSystem() == 2
    finally:
        g.close()


def test_udp_answers(fleet: SimFleet) -> None:
    g = Gcs(fleet.udp_connection_string(0))
    try:
        g.m.mav.heartbeat_send(6, 8, 0, 0, 0)
        assert g.recv("HEARTBEAT") is not None
        ack = g.command(520)  # REQUEST_AUTOPILOT_CAPABILITIES
        assert ack is not None and ack.result == 0
    finally:
        g.close()


def test_no_streams_until_requested_then_rates_follow(fleet: SimFleet, gcs: Gcs) -> None:
    fleet.advance(2.0)
    gcs.drain()
    fleet.advance(2.0)
    assert gcs.recv("GLOBAL_POSITION_INT", timeout=0.5) is None
    gcs.m.mav.request_data_stream_send(1, 1, mavlink.MAV_DATA_STREAM_POSITION, 2, 1)
    fleet.advance(5.0)
    msgs = []
    while (m := gcs.recv("GLOBAL_POSITION_INT", timeout=0.5)) is not None:
        msgs.append(m)
    assert len(msgs) >= 5
    # SET_MESSAGE_INTERVAL per message, and REQUEST_MESSAGE one-off
    ack = gcs.command(511, 147, 1_000_000)
    assert ack.result == 0
    fleet.advance(3.0)
    bat = gcs.recv("BATTERY_STATUS")
    assert bat is not None and 0 < bat.battery_remaining <= 100
    ack = gcs.command(512, 148)
    assert ack.result == 0
    ver = gcs.recv("AUTOPILOT_VERSION")
    assert ver.capabilities & mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    gcs.m.mav.request_data_stream_send(1, 1, 0, 0, 0)


# ---------------------------------------------------------------------- params
def test_params_read_set_and_unknown(gcs: Gcs) -> None:
    pv = gcs.param("WP_SPD")
    assert pv is not None and pv.param_value == pytest.approx(5.0)
    gcs.m.mav.param_set_send(1, 1, b"WP_SPD", 8.5, mavlink.MAV_PARAM_TYPE_REAL32)
    pv = gcs.recv("PARAM_VALUE", lambda p: p.param_id == "WP_SPD")
    assert pv.param_value == pytest.approx(8.5)
    assert gcs.param("WP_SPD").param_value == pytest.approx(8.5)
    gcs.m.mav.param_set_send(1, 1, b"NO_SUCH_PARAM", 1.0, mavlink.MAV_PARAM_TYPE_REAL32)
    assert gcs.recv("PARAM_VALUE", lambda p: p.param_id == "NO_SUCH_PARAM", timeout=0.7) is None
    for name in ("RTL_ALT_M", "MAV_GCS_SYSID", "BATT_FS_LOW_ACT", "FENCE_TOTAL", "ARMING_SKIPCHK"):
        assert gcs.param(name) is not None, name
    gcs.m.mav.param_set_send(1, 1, b"WP_SPD", 5.0, mavlink.MAV_PARAM_TYPE_REAL32)


def test_param_list_is_complete(gcs: Gcs) -> None:
    gcs.m.mav.param_request_list_send(1, 1)
    first = gcs.recv("PARAM_VALUE")
    names = {first.param_id}
    while len(names) < first.param_count:
        pv = gcs.recv("PARAM_VALUE")
        assert pv is not None
        names.add(pv.param_id)
    assert {"WP_SPD", "WP_RADIUS_M", "LOIT_SPEED_MS", "FS_GCS_TIMEOUT", "BRD_SD_MISSION"} <= names


# ---------------------------------------------------------------------- commands
def test_arm_refused_before_ready_with_prearm_text() -> None:
    with SimFleet(vehicles=1, home=HOME, clock="driven", base_port=free_port_block(1),
                  ready_delay_s=20.0) as f:
        g = Gcs(f.connection_string(0))
        try:
            g.recv("HEARTBEAT")
            g.m.mav.command_long_send(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0)
            text = g.recv("STATUSTEXT")
            ack = g.recv("COMMAND_ACK")
            assert ack.result == mavlink.MAV_RESULT_FAILED
            assert text.text.startswith("PreArm")
            assert g.command(176, 1, 4).result == mavlink.MAV_RESULT_FAILED  # GUIDED needs GPS
            f.advance(21.0)
            assert g.command(400, 1).result == mavlink.MAV_RESULT_ACCEPTED
        finally:
            g.close()
        f.cleanup()


def test_command_results_like_arducopter(fleet: SimFleet, gcs: Gcs) -> None:
    fleet.advance(4.0)
    assert gcs.command(300, 1, 0).result == mavlink.MAV_RESULT_DENIED
    assert gcs.command(178, 1, 0).result == mavlink.MAV_RESULT_DENIED  # DO_CHANGE_SPEED p2<=0
    assert gcs.command(12345).result == mavlink.MAV_RESULT_UNSUPPORTED
    assert gcs.command(176, 1, 6).result == 0  # RTL mode on the ground
    gcs.m.mav.command_long_send(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0)
    text = gcs.recv("STATUSTEXT")
    assert gcs.recv("COMMAND_ACK").result == mavlink.MAV_RESULT_FAILED
    assert "not armable" in text.text
    # NAV_TAKEOFF outside GUIDED or disarmed: FAILED
    assert gcs.command(22, 0, 0, 0, 0, 0, 0, 10).result == mavlink.MAV_RESULT_FAILED
    assert gcs.command(410).result == 0
    home = gcs.recv("HOME_POSITION")
    assert home.latitude == round(HOME[0] * 1e7)


def test_arm_takeoff_goto_and_auto_disarm(fleet: SimFleet, gcs: Gcs) -> None:
    fleet.advance(4.0)
    gcs.m.mav.set_mode_send(1, mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4)  # legacy SET_MODE
    assert gcs.recv("COMMAND_ACK", lambda a: a.command == 11).result == 0
    assert gcs.command(400, 1).result == 0
    assert gcs.command(22, 0, 0, 0, 0, 0, 0, 20).result == 0
    fleet.advance(15.0)
    st = fleet.vehicle_state(0)
    assert st["alt_m"] == pytest.approx(20.0, abs=1.0) and st["armed"]
    target = wp(100, 50, 30)
    # MAVSDK style: COMMAND_INT DO_REPOSITION with AMSL altitude
    ack = gcs.command_int(192, 0, round(target.lat_deg * 1e7), round(target.lon_deg * 1e7),
                          HOME[2] + 30, -1, 1)
    assert ack.result == 0
    fleet.advance(60.0)
    st = fleet.vehicle_state(0)
    assert st["north_m"] == pytest.approx(100, abs=3) and st["east_m"] == pytest.approx(50, abs=3)
    assert st["alt_m"] == pytest.approx(30, abs=1)
    # dronekit style: MISSION_ITEM current=2
    back = wp(0, 0, 25)
    gcs.m.mav.mission_item_send(1, 1, 0, 3, 16, 2, 1, 0, 0, 0, 0, back.lat_deg, back.lon_deg, 25)
    assert gcs.recv("MISSION_ACK").type == 0
    fleet.advance(60.0)
    st = fleet.vehicle_state(0)
    assert abs(st["north_m"]) < 3 and abs(st["east_m"]) < 3
    assert gcs.command(21).result == 0  # LAND
    fleet.advance(80.0)
    st = fleet.vehicle_state(0)
    assert st["landed"] and not st["armed"]


def test_guided_takeoff_then_auto_disarm_on_ground(fleet: SimFleet, gcs: Gcs) -> None:
    fleet.advance(1.0)
    assert gcs.command(176, 1, 4).result == 0
    assert gcs.command(400, 1).result == 0
    fleet.advance(11.0)  # DISARM_DELAY 10 s
    assert not fleet.vehicle_state(0)["armed"]


# ---------------------------------------------------------------------- mission protocol
def test_mission_round_trip_all_types(gcs: Gcs) -> None:
    mission = [wp(0, 0, 20, cmd=mc.NAV_TAKEOFF), wp(50, 0, 20), wp(50, 50, 25, param1=3),
               mc.MissionItem(command=mc.DO_SEND_SCRIPT_MESSAGE, frame=2, param1=7, param2=80),
               wp(0, 0, 0, cmd=mc.NAV_RETURN_TO_LAUNCH)]
    assert gcs.upload(mission).type == 0
    got = gcs.download(0)
    assert len(got) == len(mission) + 1
    assert gcs.command(410).result == 0
    home = gcs.recv("HOME_POSITION")  # moved a few cm when the last test armed off-centre
    assert (got[0].x, got[0].y) == (home.latitude, home.longitude)  # seq 0 is home
    assert got[0].x == pytest.approx(round(HOME[0] * 1e7), abs=20)
    assert [g.command for g in got[1:]] == [m.command for m in mission]
    assert got[3].param1 == 3 and got[3].z == pytest.approx(25)
    floats = gcs.download(0, use_int=False)
    assert floats[2].x == pytest.approx(mission[1].lat_deg, abs=1e-6)

    fence = square(-200, -200, 400, mc.NAV_FENCE_POLYGON_VERTEX_INCLUSION) + \
        square(100, 100, 20, mc.NAV_FENCE_POLYGON_VERTEX_EXCLUSION)
    assert gcs.upload(fence, mc.FENCE).type == 0
    got = gcs.download(mc.FENCE)
    assert [g.command for g in got] == [f.command for f in fence]
    assert gcs.param("FENCE_TOTAL").param_value == len(fence)

    rally = [wp(30, -30, 15, cmd=mc.NAV_RALLY_POINT, mission_type=mc.RALLY)]
    assert gcs.upload(rally, mc.RALLY).type == 0
    got = gcs.download(mc.RALLY)
    assert len(got) == 1 and got[0].command == mc.NAV_RALLY_POINT

    for mt in (0, 1, 2):
        gcs.m.mav.mission_clear_all_send(1, 1, mt)
        assert gcs.recv("MISSION_ACK", lambda a, t=mt: a.mission_type == t).type == 0
    assert len(gcs.download(0)) == 1 and gcs.download(1) == [] and gcs.download(2) == []


def test_mission_limit_650(gcs: Gcs) -> None:
    gcs.m.mav.mission_count_send(1, 1, 651, 0)
    text = gcs.recv("STATUSTEXT")
    ack = gcs.recv("MISSION_ACK")
    assert ack.type == mavlink.MAV_MISSION_NO_SPACE
    assert text.text == "Only 650 items are supported"
    many = [wp(i, 0, 20) for i in range(649)]
    assert gcs.upload(many).type == 0
    gcs.m.mav.mission_clear_all_send(1, 1, 0)
    gcs.recv("MISSION_ACK")


def test_limits_grow_with_sd_storage(gcs: Gcs) -> None:
    gcs.m.mav.param_set_send(1, 1, b"BRD_SD_MISSION", 64, mavlink.MAV_PARAM_TYPE_INT16)
    gcs.recv("PARAM_VALUE", lambda p: p.param_id == "BRD_SD_MISSION")
    assert gcs.upload([wp(i, 0, 20) for i in range(699)]).type == 0
    gcs.m.mav.param_set_send(1, 1, b"BRD_SD_MISSION", 0, mavlink.MAV_PARAM_TYPE_INT16)
    gcs.recv("PARAM_VALUE", lambda p: p.param_id == "BRD_SD_MISSION")
    gcs.m.mav.mission_clear_all_send(1, 1, 0)
    gcs.recv("MISSION_ACK")


def test_fence_limit_69(gcs: Gcs) -> None:
    circles = [wp(i, 0, 0, cmd=mc.NAV_FENCE_CIRCLE_EXCLUSION, param1=5, mission_type=mc.FENCE)
               for i in range(70)]
    assert gcs.upload(circles, mc.FENCE).type == mavlink.MAV_MISSION_ERROR
    assert gcs.upload(circles[:69], mc.FENCE).type == 0
    gcs.m.mav.mission_clear_all_send(1, 1, 1)
    gcs.recv("MISSION_ACK")


@pytest.mark.parametrize("bad", ["count_mismatch", "two_vertices", "self_intersecting"])
def test_bad_fence_polygon_refused(gcs: Gcs, bad: str) -> None:
    if bad == "count_mismatch":
        items = square(0, 0, 100, mc.NAV_FENCE_POLYGON_VERTEX_INCLUSION, count=5)
    elif bad == "two_vertices":
        items = square(0, 0, 100, mc.NAV_FENCE_POLYGON_VERTEX_INCLUSION, count=2)[:2]
    else:
        sq = square(0, 0, 100, mc.NAV_FENCE_POLYGON_VERTEX_INCLUSION)
        items = [sq[0], sq[2], sq[1], sq[3]]  # bow tie
    ack = gcs.upload(items, mc.FENCE)
    assert ack.type == mavlink.MAV_MISSION_ERROR
    assert gcs.download(mc.FENCE) == []


def test_upload_errors(fleet: SimFleet, gcs: Gcs) -> None:
    # unknown command
    ack = gcs.upload([mc.MissionItem(command=9999, frame=2)])
    assert ack.type == mavlink.MAV_MISSION_UNSUPPORTED
    # wrong sequence
    gcs.m.mav.mission_count_send(1, 1, 3, 0)
    req = gcs.recv("MISSION_REQUEST")
    assert req.seq == 0
    gcs.send_item(wp(0, 0, 0), 2, 0)
    assert gcs.recv("MISSION_ACK").type == mavlink.MAV_MISSION_INVALID_SEQUENCE
    # a second GCS mid-upload is DENIED; the first one's upload still completes
    other = Gcs(fleet.connection_string(0), sysid=254)
    try:
        other.m.mav.mission_count_send(1, 1, 2, 0)
        assert other.recv("MISSION_ACK").type == mavlink.MAV_MISSION_DENIED
    finally:
        other.close()
    gcs.send_item(wp(0, 0, 0), 0, 0)
    for seq in (1, 2):
        req = gcs.recv("MISSION_REQUEST", lambda r, s=seq: r.seq == s)
        assert req is not None
        gcs.send_item(wp(seq, 0, 10), seq, 0)
    assert gcs.recv("MISSION_ACK").type == 0


def test_duplicates_and_downloads_during_upload_as_ardupilot(gcs: Gcs) -> None:
    # MissionItemProtocol: any item but the expected one gets INVALID_SEQUENCE (a duplicate
    # too), and while an upload is in progress downloads are DENIED.
    gcs.m.mav.mission_count_send(1, 1, 3, 0)
    assert gcs.recv("MISSION_REQUEST", lambda r: r.seq == 0) is not None
    gcs.send_item(wp(0, 0, 0), 0, 0)
    assert gcs.recv("MISSION_REQUEST", lambda r: r.seq == 1) is not None
    gcs.send_item(wp(0, 0, 0), 0, 0)  # a duplicate of an item the vehicle already holds
    assert gcs.recv("MISSION_ACK").type == mavlink.MAV_MISSION_INVALID_SEQUENCE
    gcs.m.mav.mission_request_list_send(1, 1, 0)
    assert gcs.recv("MISSION_ACK").type == mavlink.MAV_MISSION_DENIED
    gcs.m.mav.mission_request_int_send(1, 1, 0, 0)
    assert gcs.recv("MISSION_ACK").type == mavlink.MAV_MISSION_DENIED
    for seq in (1, 2):
        gcs.send_item(wp(seq, 0, 10), seq, 0)
        if seq == 1:
            assert gcs.recv("MISSION_REQUEST", lambda r: r.seq == 2) is not None
    assert gcs.recv("MISSION_ACK").type == mavlink.MAV_MISSION_ACCEPTED
    assert len(gcs.download(0)) == 3  # downloads work again once the upload is done


def test_pending_request_is_resent_then_cancelled(gcs: Gcs) -> None:
    gcs.m.mav.mission_count_send(1, 1, 2, 2)
    first = gcs.recv("MISSION_REQUEST")
    again = gcs.recv("MISSION_REQUEST", timeout=3.0)
    assert first.seq == again.seq == 0
    ack = gcs.recv("MISSION_ACK", timeout=12.0)
    assert ack.type == mavlink.MAV_MISSION_OPERATION_CANCELLED


def test_missing_takeoff_cmd(fleet: SimFleet, gcs: Gcs) -> None:
    fleet.advance(12.0)
    assert gcs.upload([wp(50, 0, 20), wp(0, 0, 0, cmd=mc.NAV_LAND)]).type == 0
    assert gcs.command(176, 1, 4).result == 0
    assert gcs.command(400, 1).result == 0
    gcs.m.mav.command_long_send(1, 1, 300, 0, 0, 0, 0, 0, 0, 0, 0)
    text = gcs.recv("STATUSTEXT", lambda t: "Takeoff" in t.text)
    assert text.text == "Auto: Missing Takeoff Cmd"
    assert gcs.recv("COMMAND_ACK", lambda a: a.command == 300).result == mavlink.MAV_RESULT_FAILED
    assert gcs.command(400, 0).result == 0


# ---------------------------------------------------------------------- robustness
def test_fuzz_garbage_and_mutated_packets(fleet: SimFleet) -> None:
    rng = random.Random(1234)
    good = Gcs(fleet.connection_string(0))
    templates = []
    enc = mavlink.MAVLink(None, srcSystem=255, srcComponent=190)
    for msg in (enc.command_long_encode(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0),
                enc.mission_count_encode(1, 1, 5, 0),
                enc.param_set_encode(1, 1, b"WP_SPD", 3.0, 9),
                enc.mission_item_int_encode(1, 1, 0, 3, 16, 0, 1, 0, 0, 0, 0, 1, 2, 3, 0),
                enc.request_data_stream_encode(1, 1, 0, 10, 1)):
        templates.append(bytes(msg.pack(enc)))
    host, port = fleet.connection_string(0).split(":")[1:]
    for round_ in range(3):
        s = socket.create_connection((host, int(port)))
        for _ in range(300):
            kind = rng.random()
            if kind < 0.3:
                data = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
            else:
                data = bytearray(rng.choice(templates))
                for _ in range(rng.randint(1, 4)):
                    data[rng.randrange(len(data))] = rng.getrandbits(8)
                if kind > 0.8:
                    data = data[: rng.randrange(1, len(data))]
                data = bytes(data)
            s.sendall(data)
        if round_ == 1:
            s.close()  # vanish without reading
        else:
            s.shutdown(socket.SHUT_RDWR)
            s.close()
    fleet.advance(1.0)
    try:
        good.drain()
        assert good.command(520).result == 0
        assert good.param("WP_SPD") is not None
    finally:
        good.close()


def test_bad_fleet_arguments() -> None:
    with pytest.raises(SimError, match="vehicles"):
        SimFleet(vehicles=0)
    with pytest.raises(SimError, match="clock"):
        SimFleet(clock="fast")
