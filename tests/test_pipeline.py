"""The whole planning job: broadcasts drive lane spacing, fleet sorties get triggers and a
companion plan, every file is written, and the report proves coverage from speaker logs."""

import json

import pytest
from shapely.geometry import box

from common import EXAMPLE_ZONES, city
from dronepatrol import mission as ms
from dronepatrol.acoustics import Speaker
from dronepatrol.cli import main
from dronepatrol.errors import AcousticsError, PlanningError
from dronepatrol.pipeline import PatrolSettings, plan_and_write
from dronepatrol.plan import PlanOptions
from dronepatrol.zones import read_zones


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet")
    res = plan_and_write(read_zones(EXAMPLE_ZONES),
                         PatrolSettings(plan=PlanOptions(spacing_m=150, speed_mps=8), drones=6,
                                        solver_time_limit_s=1.0), out)
    return res, out


def test_acoustic_spacing_used_for_zones_with_messages(fleet_dir):
    res, _ = fleet_dir
    by_zone = {r.name: r for r in res.plan.reports}
    for name, za in res.acoustics.items():
        # never wider than the acoustic guarantee allows
        assert by_zone[name].spacing_m <= za.spacing_m + 1e-6
        assert by_zone[name].altitude_m == za.altitude_m
        assert res.messages[name].duration_s > 1.0  # measured from the rendered audio


def test_fleet_files_and_triggers(fleet_dir):
    res, out = fleet_dir
    sched = json.loads((out / "schedule.json").read_text())
    names = [s["route"] for d in sched["drones"] for s in d["sorties"]]
    assert names and len(names) == len(res.routes)
    assert (out / "schedule.png").exists() and (out / "map.png").exists()
    first = names[0]
    _, items = ms.read_waypoints(out / f"{first}.waypoints")
    ids = {int(i.param1) for i in items if i.command == ms.DO_SEND_SCRIPT_MESSAGE}
    assert 0 in ids and ids - {0} <= {m.id for m in res.messages.values()}
    companion = json.loads((out / f"{first}.companion.json").read_text())
    assert companion["by_mission_seq"]
    msgs = json.loads((out / "messages.json").read_text())
    assert set(msgs) == set(res.messages)
    assert (out / "zones.geojson").exists() and (out / "broadcasts.json").exists()


def test_zones_without_message_keep_caller_spacing(tmp_path):
    zs = city(("quiet", "sealed", box(0, 0, 600, 400)), ("H", "no_fly", box(700, 0, 800, 100)))
    res = plan_and_write(zs, PatrolSettings(plan=PlanOptions(spacing_m=70)), tmp_path,
                         draw=False)
    assert res.messages == {}
    assert res.plan.reports[0].spacing_m == 70
    assert not (tmp_path / "broadcasts.json").exists()


def test_quiet_speaker_is_a_clear_error(tmp_path):
    with pytest.raises(AcousticsError, match=r"\d"):
        plan_and_write(read_zones(EXAMPLE_ZONES),
                       PatrolSettings(speaker=Speaker(level_at_1m_db=70.0)), tmp_path,
                       draw=False)


def test_zero_drones_refused():
    with pytest.raises(PlanningError, match="at least 1"):
        PatrolSettings(drones=0)


def test_cli_plan_with_drones(tmp_path, capsys):
    rc = main(["plan", str(EXAMPLE_ZONES), "--out", str(tmp_path), "--drones", "6",
               "--no-map"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "fleet: 6 drones" in out and "broadcast" in out
    assert (tmp_path / "schedule.json").exists()


def test_user_wav_is_copied_next_to_the_plan(tmp_path):
    import wave

    wav = tmp_path / "mine.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x10\x00" * 16000 * 3)  # 3 s
    zs = city(("A", "sealed", box(0, 0, 900, 600)))
    z = zs.zone("A")
    from dronepatrol.zones import ZoneSet

    zs = ZoneSet.from_shapely([{**z.properties, "message": "x", "message_audio": str(wav),
                                "geometry": z.geometry}],
                              bases=[(b.name, b.lon_deg, b.lat_deg) for b in zs.bases])
    out = tmp_path / "plan"
    res = plan_and_write(zs, PatrolSettings(plan=PlanOptions(spacing_m=100)), out, draw=False)
    m = res.messages["A"]
    assert m.duration_s == pytest.approx(3.0, abs=0.01)
    assert m.audio_path.parent == out / "audio" and m.audio_path.exists()
    companion = json.loads((out / "route-1.companion.json").read_text())
    assert any(msg["audio"] == m.audio_path.name for msg in companion["messages"])
