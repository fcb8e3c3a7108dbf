"""The speaker agent: plan rules, players, and the agent over real sockets beside the simulator.

The simulator already has a built-in speaker as component 25, so the agent runs here as
component 191 (``--component-id``); the simulator does not route MAVLink between its clients,
so the test ground station talks to the agent over the agent's own ``--gcs`` UDP link.
"""

from __future__ import annotations

import dataclasses
import json
import random
import socket
import sys
import time
import wave

import numpy as np
import pytest
from pymavlink import mavutil
from shapely.geometry import Point, box

from common import FRAME, city
from dronepatrol import acoustics as ac
from dronepatrol import broadcast as bc
from dronepatrol import speaker as sp
from dronepatrol.errors import AudioError, DronePatrolError, LinkError, PlanningError
from dronepatrol.fly import fly_plan
from dronepatrol.link import LossyRelay
from dronepatrol.output import route_items, write_plan_dir
from dronepatrol.plan import PlanOptions, local_zones, plan_patrol
from dronepatrol.report import coverage_report, read_speaker_log
from dronepatrol.sim import SimFleet, free_port_block

COMPID = 191  # not 25: the simulator's own speaker component is 25


def _udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _write_wav(path, seconds=0.5, rate=8000, amplitude=20000):
    t = np.arange(int(seconds * rate)) / rate
    data = (amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


# ------------------------------------------------------------------------- a small plan


@pytest.fixture(scope="module")
def two_zone_plan(tmp_path_factory):
    """Zones A and B with different messages, a no-fly strip between; plan dir + companion."""
    zs = city(("A", "sealed", box(0, 0, 300, 200)), ("H", "no_fly", box(400, -100, 500, 300)),
              ("B", "controlled", box(600, -50, 800, 150)))
    plan = plan_patrol(zs, PlanOptions(spacing_m=80, altitude_m=30, speed_mps=8))
    msgs = bc.messages_for_zones(zs)
    msgs = {z: dataclasses.replace(m, duration_s=4.0) for z, m in msgs.items()}
    assert msgs["A"].id != msgs["B"].id
    d = tmp_path_factory.mktemp("speaker-plan")
    write_plan_dir(plan, d)
    (route,) = plan.routes
    lz = local_zones(zs, plan.frame)
    sch = bc.schedule(route, msgs, plan.options.kinematics,
                      zones_xy={"A": lz["A"], "B": lz["B"]}, no_fly_xy=plan.no_fly_local)
    doc = bc.companion_plan(route, sch, msgs, zoneset=zs, mission_items=route_items(plan, route),
                            volume_pct=90.0)
    (d / f"{route.name}.companion.json").write_text(json.dumps(doc, ensure_ascii=False),
                                                     encoding="utf-8")
    return plan, zs, msgs, d


def test_load_plan_reads_what_companion_plan_wrote(two_zone_plan):
    plan, zs, msgs, d = two_zone_plan
    cp = sp.CompanionPlan.load(d)  # the only route: no --route needed
    assert cp.route == plan.routes[0].name and cp.volume_pct == 90.0
    assert set(cp.messages) == {msgs["A"].id, msgs["B"].id}
    assert cp.messages[msgs["A"].id].period_s == pytest.approx(4.0 + msgs["A"].gap_s)
    assert cp.zones["A"].priority == msgs["A"].priority
    # a point in the middle of the no-fly strip is silent, even on a zone's leg
    lon, lat = FRAME.to_lonlat(450, 100)
    seq_a = next(s for s, e in cp.by_seq.items() if e.message_id == msgs["A"].id)
    d_nf = cp.decide(lat_deg=float(lat), lon_deg=float(lon), seq=seq_a, auto=True, armed=True,
                     time_of_day_s=0)
    assert d_nf.message_id == 0 and "no-fly" in d_nf.reason


# ------------------------------------------------------------------- plan rules (pure)


def _ring(x0, y0, x1, y1):
    pts = [FRAME.to_lonlat(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
    return [[float(a), float(b)] for a, b in pts]


def _rule_plan(window_b=None):
    """Low zone 0..1000 m with a high-priority zone 300..500 inside, a no-fly at 700..800."""
    return sp.CompanionPlan.from_json({
        "format": bc.COMPANION_PLAN_FORMAT, "version": 1, "route": "r", "volume_pct": 80,
        "messages": [
            {"id": 1, "text": "low", "audio": None, "duration_s": 5.0, "gap_s": 1.0,
             "priority": 10, "repeat": 0, "window": None},
            {"id": 2, "text": "high", "audio": None, "duration_s": 3.0, "gap_s": 1.0,
             "priority": 30, "repeat": 0, "window": window_b},
        ],
        "by_mission_seq": [
            {"seq": 3, "leg": 0, "kind": "transit", "zone": None, "message_id": 0},
            {"seq": 4, "leg": 1, "kind": "sweep", "zone": "Low", "message_id": 1,
             "zones": ["High"]},
            {"seq": 5, "leg": 2, "kind": "transit", "zone": None, "message_id": 0},
        ],
        "zones": [
            {"zone": "Low", "kind": "precaution", "message_id": 1, "priority": 10,
             "polygons": [{"exterior": _ring(0, 0, 1000, 400), "holes": []}]},
            {"zone": "High", "kind": "sealed", "message_id": 2, "priority": 30,
             "polygons": [{"exterior": _ring(300, 0, 500, 400), "holes": []}]},
        ],
        "no_fly": [{"zone": "N", "polygons": [{"exterior": _ring(700, 150, 800, 250),
                                               "holes": []}]}],
    })


def _at(cp, x, y, seq=4, auto=True, armed=True, tod=12 * 3600):
    lon, lat = FRAME.to_lonlat(x, y)
    return cp.decide(lat_deg=float(lat), lon_deg=float(lon), seq=seq, auto=auto, armed=armed,
                     time_of_day_s=tod)


def test_plan_rules_priority_no_fly_transit_mode_and_windows():
    cp = _rule_plan()
    assert _at(cp, 100, 200).message_id == 1
    assert (_at(cp, 400, 200).message_id, _at(cp, 400, 200).zone) == (2, "High")
    assert _at(cp, 600, 200).message_id == 1
    assert _at(cp, 750, 200).message_id == 0  # no-fly
    assert _at(cp, 750, 350).message_id == 1  # beside it
    assert _at(cp, 400, 200, seq=3).message_id == 0  # transit leg over the zone: silent
    assert _at(cp, 400, 200, seq=9).message_id == 0  # RTL or any unlisted item
    assert _at(cp, 100, 200, auto=False).message_id == 0
    assert _at(cp, 100, 200, armed=False).message_id == 0
    night = _rule_plan(window_b="08:00-20:00")
    assert _at(night, 400, 200, tod=22 * 3600).message_id == 1  # High is out of its window
    assert _at(night, 400, 200, tod=9 * 3600).message_id == 2


@pytest.mark.parametrize("doc, match", [
    ({"format": "nope"}, "format"),
    ({"format": bc.COMPANION_PLAN_FORMAT, "route": "r", "messages": [],
      "by_mission_seq": [{"seq": 3, "message_id": 7}]}, "message 7"),
    ({"format": bc.COMPANION_PLAN_FORMAT, "route": "r",
      "messages": [{"id": 1, "duration_s": None}], "by_mission_seq": []}, "duration"),
    ({"format": bc.COMPANION_PLAN_FORMAT, "route": "r", "messages": [{"id": "x"}],
      "by_mission_seq": []}, "malformed"),
])
def test_malformed_plan_is_a_clear_error(doc, match):
    with pytest.raises(PlanningError, match=match):
        sp.CompanionPlan.from_json(doc)


def test_bad_plan_dir_is_a_clear_error(tmp_path, two_zone_plan):
    with pytest.raises(PlanningError, match="does not exist"):
        sp.CompanionPlan.load(tmp_path / "missing")
    with pytest.raises(PlanningError, match="companion.json"):
        sp.CompanionPlan.load(tmp_path)
    (tmp_path / "r1.companion.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(PlanningError, match="JSON"):
        sp.CompanionPlan.load(tmp_path)
    (tmp_path / "r2.companion.json").write_text("{}", encoding="utf-8")
    with pytest.raises(PlanningError, match="several.*r1, r2.*--route"):
        sp.CompanionPlan.load(tmp_path)
    with pytest.raises(PlanningError, match="r3.companion.json does not exist.*r1, r2"):
        sp.CompanionPlan.load(tmp_path, "r3")
    # without --dry-run every message needs its audio: the plan above has none rendered
    cp = sp.CompanionPlan.load(two_zone_plan[3])
    with pytest.raises(AudioError, match="no audio file.*--dry-run"):
        cp.check_audio()
    # the CLI entry point raises the same errors (cli.main prints them)
    parser = __import__("argparse").ArgumentParser()
    sp.add_arguments(parser)
    args = parser.parse_args(["--connect", "tcp:127.0.0.1:1", "--plan", str(tmp_path / "x"),
                              "--dry-run"])
    with pytest.raises(DronePatrolError, match="does not exist"):
        sp.run(args)


# ------------------------------------------------------------------------------ players


def test_scaled_wav_scales_amplitude(tmp_path):
    src = _write_wav(tmp_path / "m.wav")
    out = sp.scaled_wav(src, 50.0, tmp_path)
    with wave.open(str(src)) as a, wave.open(str(out)) as b:
        x = np.frombuffer(a.readframes(a.getnframes()), "<i2").astype(float)
        y = np.frombuffer(b.readframes(b.getnframes()), "<i2").astype(float)
        assert b.getframerate() == a.getframerate() and len(x) == len(y)
    assert np.max(np.abs(y)) == pytest.approx(0.5 * np.max(np.abs(x)), abs=1)
    assert sp.scaled_wav(src, 100.0, tmp_path) == src
    with pytest.raises(AudioError, match="does not exist"):
        sp.scaled_wav(tmp_path / "nope.wav", 50.0, tmp_path)


FAKE_PLAYER = r"""
import os, signal, sys, time
log = os.environ["FAKE_PLAYER_LOG"]
def note(what):
    with open(log, "a") as f:
        f.write(f"{what} {os.path.basename(sys.argv[1])} {time.monotonic():.6f}\n")
def term(*_):
    note("term")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
note("start")
time.sleep(0.4)
note("end")
"""


def test_process_player_loops_stops_at_once_and_never_overlaps(tmp_path, monkeypatch):
    script = tmp_path / "fake_player.py"
    script.write_text(FAKE_PLAYER, encoding="utf-8")
    log = tmp_path / "player.log"
    monkeypatch.setenv("FAKE_PLAYER_LOG", str(log))
    one = sp.PlanMessage(id=1, text="", audio_path=_write_wav(tmp_path / "one.wav"),
                         duration_s=0.4, gap_s=0.05)
    two = sp.PlanMessage(id=2, text="", audio_path=_write_wav(tmp_path / "two.wav"),
                         duration_s=0.4, gap_s=0.05)
    player = sp.ProcessPlayer([sys.executable, str(script)], cache_dir=tmp_path)
    try:
        player.play(one, 100.0)
        deadline = time.monotonic() + 10
        while player.plays_started < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert player.plays_started >= 2  # looped
        time.sleep(0.1)
        player.play(two, 40.0)  # replaces at once
        while player.plays_started < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        player.stop()
    finally:
        player.close()
    assert not player.errors, player.errors
    rows = [line.split() for line in log.read_text().splitlines()]
    kinds = [r[0] for r in rows]
    # strictly start, (end|term), start, ...: one play at a time
    assert kinds[0::2] == ["start"] * len(kinds[0::2])
    assert all(k in ("end", "term") for k in kinds[1::2]) and len(kinds) % 2 == 0
    times = [float(r[2]) for r in rows]
    assert times == sorted(times)
    files = [r[1] for r in rows if r[0] == "start"]
    assert files[:2] == ["one.wav", "one.wav"] and files[-1] == "two-v40.wav"
    assert "term" in kinds  # the replaced play was cut, not waited for


# ------------------------------------------------------------- the agent beside the sim


def _sim(plan, **kw):
    b = plan.bases[0]
    return SimFleet(vehicles=1, home=(b.lat_deg, b.lon_deg, 100.0, 0.0),
                    base_port=free_port_block(1), **kw)


def test_dry_run_agent_follows_a_flight(two_zone_plan, tmp_path):
    plan, zs, msgs, d = two_zone_plan
    cp = sp.CompanionPlan.load(d)
    log = tmp_path / "speaker-1.jsonl"
    with _sim(plan, speedup=40) as fleet:
        agent = sp.SpeakerAgent(cp, fleet.connection_string(0), player=sp.DryRunPlayer(),
                                log_path=log, component_id=COMPID, telemetry_hz=10)
        with agent:
            agent.wait_until(lambda s: s.system_id == 1 and s.link_ok, timeout_s=20)
            (res,) = fly_plan(d, [fleet.connection_string(0)], connect_timeout_s=60)
        assert res.error is None, res.error
    assert not agent.errors, agent.errors
    sessions = read_speaker_log(log)  # the report reads the agent's log
    assert {s.message_id for s in sessions} == {msgs["A"].id, msgs["B"].id}
    assert all(s.vehicle == "1" and s.volume_pct == 90.0 for s in sessions)
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    # never two at once
    spans = sorted((r["start_s"], r["end_s"]) for r in recs)
    assert all(a[1] <= b[0] for a, b in zip(spans[:-1], spans[1:], strict=False))
    # every play is over its own zone (a sample's latency at 8 m/s allowed)
    zone_xy = {n: plan.frame.geometry_to_local(zs.zone(n).geometry) for n in ("A", "B")}
    by_id = {msgs[n].id: n for n in ("A", "B")}
    for r in recs:
        xy = plan.frame.xy_to_local(np.array([[p[1], p[2]] for p in r["track"]]))
        near = zone_xy[by_id[r["message_id"]]].buffer(25.0)
        assert all(near.contains(Point(p)) for p in xy), r["message_id"]
    # the flown track: deep inside a zone -> that zone's message plays; far from both -> silence
    track = [json.loads(line) for line in res.track.read_text().splitlines()]
    t = np.array([p["t_s"] for p in track])
    xy = plan.frame.xy_to_local(np.array([(p["lon"], p["lat"]) for p in track]))

    def playing(ti):
        return [r["message_id"] for r in recs if r["start_s"] <= ti < r["end_s"]]

    for n in ("A", "B"):
        inner = zone_xy[n].buffer(-20.0)
        inside = [ti for ti, p in zip(t, xy, strict=True) if inner.contains(Point(p))]
        assert len(inside) > 10
        heard = sum(playing(ti) == [msgs[n].id] for ti in inside)
        assert heard >= 0.9 * len(inside), (n, heard, len(inside))
    far = [ti for ti, p in zip(t, xy, strict=True)
           if all(z.distance(Point(p)) > 40.0 for z in zone_xy.values())]
    assert len(far) > 10
    assert not any(playing(ti) for ti in far)  # transit, takeoff, landing: silent
    # and the report proves coverage from the agent's log alone
    rep = coverage_report(zs, plan.frame, None, sessions, msgs, ac.Speaker(level_at_1m_db=115.0),
                          ac.Atmosphere(), grid_m=20.0)
    for n in ("A", "B"):
        assert rep.zone(n).heard_fraction >= 0.95, (n, rep.zone(n))


class Gcs:
    """A pymavlink ground station talking to the agent's --gcs UDP link."""

    def __init__(self, port: int) -> None:
        self.conn = mavutil.mavlink_connection(f"udpout:127.0.0.1:{port}", source_system=255,
                                               source_component=190, dialect="ardupilotmega")
        self.values: dict[str, int] = {}
        self.heartbeat = None
        self.texts: list[str] = []

    def pump(self, until, timeout_s=10.0):
        deadline = time.monotonic() + timeout_s
        last_hb = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() - last_hb > 0.5:
                self.conn.mav.heartbeat_send(6, 8, 0, 0, 4)
                last_hb = time.monotonic()
            m = self.conn.recv_match(blocking=True, timeout=0.1)
            if m is None:
                continue
            if m.get_srcComponent() == COMPID:
                if m.get_type() == "NAMED_VALUE_INT":
                    self.values[m.name] = m.value
                elif m.get_type() == "HEARTBEAT":
                    self.heartbeat = m
                elif m.get_type() == "STATUSTEXT":
                    self.texts.append(m.text)
            r = until(m)
            if r:
                return r
        raise AssertionError("timed out")

    def command(self, cmd, *params):
        p = list(params) + [0.0] * (7 - len(params))
        self.conn.mav.command_long_send(1, COMPID, cmd, 0, *p)
        ack = self.pump(lambda m: m if m.get_type() == "COMMAND_ACK" and m.command == cmd
                        else None)
        return ack.result

    def wait_values(self, **want):
        self.pump(lambda m: all(self.values.get(k) == v for k, v in want.items()))


def test_live_commands_from_a_gcs(two_zone_plan, tmp_path):
    plan, zs, msgs, d = two_zone_plan
    cp = sp.CompanionPlan.load(d)
    port = _udp_port()
    log = tmp_path / "speaker-1.jsonl"
    a_id, b_id = msgs["A"].id, msgs["B"].id
    with _sim(plan, speedup=10) as fleet:
        with sp.SpeakerAgent(cp, fleet.connection_string(0), player=sp.DryRunPlayer(),
                             log_path=log, component_id=COMPID,
                             gcs_urls=[f"udpin:127.0.0.1:{port}"]) as agent:
            agent.wait_until(lambda s: s.system_id == 1 and s.vehicle_time_s is not None,
                             timeout_s=20)
            gcs = Gcs(port)
            try:
                gcs.wait_values(SPK_MSG=0, SPK_VOL=90, SPK_MODE=0)  # on the ground: silent
                assert gcs.command(sp.MAV_CMD_USER_1, b_id, 60) == 0  # ACCEPTED
                gcs.wait_values(SPK_MSG=b_id, SPK_VOL=60, SPK_MODE=1)
                gcs.pump(lambda m: m.get_type() == "HEARTBEAT" and m.get_srcComponent() == COMPID
                         and m.custom_mode == b_id and m.system_status == 4)
                assert gcs.heartbeat.type == 18 and gcs.heartbeat.autopilot == 8
                assert agent.state.message_id == b_id and agent.state.mode == "live"
                assert gcs.command(sp.MAV_CMD_USER_2, 35) == 0
                gcs.wait_values(SPK_VOL=35)
                # garbage on the link, then refusals: the agent keeps answering
                raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                # a broken frame, then seeded noise without MAVLink start bytes: random bytes
                # may hold a start byte with a long length that swallows the next command
                noise = bytes(b for b in random.Random(7).randbytes(96) if b not in (0xFD, 0xFE))
                raw.sendto(b"\xfd\x09\x00\x00\x00garbage" + noise[:64], ("127.0.0.1", port))
                raw.close()
                assert gcs.command(sp.MAV_CMD_USER_1, 999) == 2  # DENIED: no such message
                assert gcs.command(sp.MAV_CMD_USER_2, 150) == 2  # DENIED: volume
                assert gcs.command(31012) == 3  # UNSUPPORTED
                assert gcs.command(sp.MAV_CMD_USER_1, a_id) == 0  # switch live message
                gcs.wait_values(SPK_MSG=a_id)
                assert gcs.command(sp.MAV_CMD_USER_1, 0) == 0  # stop: silent, plan muted
                gcs.wait_values(SPK_MSG=0, SPK_MODE=2)
                assert gcs.command(sp.MAV_CMD_USER_1, -1) == 0  # back to the plan
                gcs.wait_values(SPK_MSG=0, SPK_MODE=0)
                # p3 = 1: one play, then the plan resumes by itself (silent on the ground)
                assert gcs.command(sp.MAV_CMD_USER_1, a_id, 0, 1) == 0
                gcs.wait_values(SPK_MSG=a_id, SPK_MODE=1)
                gcs.wait_values(SPK_MSG=0, SPK_MODE=0)
                assert any("SPK: play" in t for t in gcs.texts)
            finally:
                gcs.conn.close()
    assert not agent.errors, agent.errors
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["message_id"], r["source"]) for r in recs] == [
        (b_id, "live"), (a_id, "live"), (a_id, "live")]
    assert recs[0]["volume_pct"] == 35  # lowest volume of the broadcast
    assert recs[1]["end_reason"] == "muted" and recs[0]["end_s"] <= recs[1]["start_s"]
    one = recs[2]  # vehicle clock: one period of the message, to a telemetry sample
    assert one["end_s"] - one["start_s"] == pytest.approx(cp.messages[a_id].period_s, abs=1.5)


def test_link_loss_stops_playing_and_recovers(two_zone_plan, tmp_path):
    plan, zs, msgs, d = two_zone_plan
    cp = sp.CompanionPlan.load(d)
    port = _udp_port()
    with _sim(plan, speedup=10) as fleet, \
            LossyRelay(("127.0.0.1", fleet.base_port)) as relay, \
            sp.SpeakerAgent(cp, relay.url, player=sp.DryRunPlayer(), component_id=COMPID,
                            gcs_urls=[f"udpin:127.0.0.1:{port}"],
                            link_timeout_s=1.0) as agent:
        agent.wait_until(lambda s: s.link_ok and s.vehicle_time_s is not None, timeout_s=20)
        gcs = Gcs(port)
        try:
            assert gcs.command(sp.MAV_CMD_USER_1, msgs["A"].id) == 0
        finally:
            gcs.conn.close()
        agent.wait_until(lambda s: s.message_id == msgs["A"].id, timeout_s=5)
        relay.cut()
        s = agent.wait_until(lambda s: not s.link_ok, timeout_s=10)
        s = agent.wait_until(lambda s: s.message_id == 0, timeout_s=5)
        assert s.mode == "live"  # the operator's choice survives the outage
        relay.restore()
        agent.wait_until(lambda s: s.link_ok and s.message_id == msgs["A"].id, timeout_s=15)
    assert not agent.errors, agent.errors


def test_agent_refuses_bad_ids_and_urls(two_zone_plan):
    cp = sp.CompanionPlan.load(two_zone_plan[3])
    with pytest.raises(LinkError, match="autopilot"):
        sp.SpeakerAgent(cp, "tcp:127.0.0.1:1", player=sp.DryRunPlayer(), component_id=1)
    with pytest.raises(AudioError, match="volume"):
        sp.SpeakerAgent(cp, "tcp:127.0.0.1:1", player=sp.DryRunPlayer(), volume_pct=0)
    agent = sp.SpeakerAgent(cp, "nonsense:xyz", player=sp.DryRunPlayer())
    with pytest.raises(LinkError, match="nonsense"):
        agent.start()

