"""The dronepatrol command: plan end to end, and bad arguments give one clear line."""

import json
import subprocess
import sys

import pytest

from common import EXAMPLE_ZONES
from dronepatrol.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "dronepatrol.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_plan_writes_everything(tmp_path):
    out = tmp_path / "out"
    rc = main(["plan", str(EXAMPLE_ZONES), "--out", str(out), "--spacing-m", "150"])
    assert rc == 0
    for name in ("routes.geojson", "summary.json", "route-1.plan", "route-1.waypoints",
                 "map.png", "geofence.geojson"):
        assert (out / name).exists(), name
    s = json.loads((out / "summary.json").read_text())
    assert s["options"]["spacing_m"] == 150


def test_plan_with_base_option(tmp_path):
    rc = main(["plan", str(EXAMPLE_ZONES), "--out", str(tmp_path), "--no-map",
               "--base", "113.83,34.02"])
    assert rc == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["bases"] == [{"name": "base-1", "lon_deg": 113.83, "lat_deg": 34.02}]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["plan", "nope.geojson", "--out", "x"], "no such file"),
        (["plan", str(EXAMPLE_ZONES), "--out", "x", "--spacing-m", "-3"], "positive number"),
        (["plan", str(EXAMPLE_ZONES), "--out", "x", "--base", "34.02,113.83"], "LON,LAT"),
        (["plan", str(EXAMPLE_ZONES), "--out", "x", "--altitude-m", "900"], "altitude_m 900"),
    ],
)
def test_bad_arguments_give_one_clear_line(tmp_path, args, needle):
    r = subprocess.run([sys.executable, "-m", "dronepatrol.cli", *args], capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 2
    assert needle in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_zone_file_gives_one_clear_line(tmp_path):
    bad = tmp_path / "z.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [')
    r = run("plan", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert r.stderr.startswith("dronepatrol: error: ")
    assert "truncated" in r.stderr and "Traceback" not in r.stderr


# -- error messages as a new user meets them -------------------------------------------------
# Every case: exit status 2, no traceback, exactly one line "dronepatrol: error: ..." that
# names what is wrong (needle) and what to do (fix).


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory):
    """A real plan directory (one route, broadcasts), planned once for the module."""
    out = tmp_path_factory.mktemp("plan") / "p"
    assert main(["plan", str(EXAMPLE_ZONES), "--out", str(out), "--no-map"]) == 0
    return out


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    """A directory of files a user might pass by mistake."""
    d = tmp_path_factory.mktemp("bad")
    (d / "notjson.geojson").write_text("hello", encoding="utf-8")
    (d / "trunc.geojson").write_text('{"type": "FeatureCollection", "features": [',
                                     encoding="utf-8")
    (d / "empty.geojson").write_text("", encoding="utf-8")
    (d / "notxml.kml").write_text("not xml at all", encoding="utf-8")
    (d / "trunc.kml").write_text("<kml><Document><Placemark>", encoding="utf-8")
    (d / "mismatched.kml").write_text("<kml><Document></Placemark></kml>", encoding="utf-8")
    (d / "zones.txt").write_text("a,b,c\n", encoding="utf-8")
    (d / "adir").mkdir()
    (d / "emptyplan").mkdir()
    (d / "speaker.jsonl").write_text("hello\n", encoding="utf-8")
    return d


def assert_one_error(r, needle, fix):
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("dronepatrol: error: ")]
    assert len(errors) == 1, r.stderr
    # nothing else but the command's own status lines ("dronepatrol speaker: ...")
    assert all(ln.startswith("dronepatrol") for ln in lines), r.stderr
    assert needle in errors[0], errors[0]
    assert fix in errors[0], errors[0]


def run_in(cwd, *args):
    return subprocess.run([sys.executable, "-m", "dronepatrol.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


ZONES = str(EXAMPLE_ZONES)


@pytest.mark.parametrize(
    ("args", "needle", "fix"),
    [
        ([], "required: COMMAND", "dronepatrol --help"),
        (["patrol"], "invalid choice: 'patrol'", "dronepatrol --help"),
        (["plan", ZONES], "required: --out", "dronepatrol plan --help"),
        (["plan", "notjson.geojson", "--out", "o"], "not valid JSON at line 1, column 1",
         "fix the JSON syntax"),
        (["plan", "trunc.geojson", "--out", "o"], "not valid JSON", "truncated"),
        (["plan", "empty.geojson", "--out", "o"], "the file is empty", "FeatureCollection"),
        (["plan", "notxml.kml", "--out", "o"], "not well-formed XML at line 1, column 1",
         "export the zones as KML or GeoJSON"),
        (["plan", "trunc.kml", "--out", "o"], "not well-formed XML", "truncated"),
        (["plan", "mismatched.kml", "--out", "o"], "mismatched tag", "fix the XML"),
        (["plan", "zones.txt", "--out", "o"], "not a GeoJSON object", "export the zones"),
        (["plan", "adir", "--out", "o"], "is a directory", ".geojson or .kml"),
        (["plan", ZONES, "--out", "notjson.geojson"], "exists and is not a directory",
         "give --out"),
        (["plan", ZONES, "--out", "o", "--reserve", "1.5"], "argument --reserve",
         "fraction from 0 to below 1"),
        (["plan", ZONES, "--out", "o", "--drones", "0"], "argument --drones", "at least 1"),
        (["plan", ZONES, "--out", "o", "--drones", "two"], "argument --drones", "whole number"),
        (["plan", ZONES, "--out", "o", "--snr-db", "nan"], "argument --snr-db",
         "finite number"),
        (["plan", ZONES, "--out", "o", "--min-altitude-m", "200"],
         "--min-altitude-m 200 is above --max-altitude-m 120", "at or below"),
        (["plan", ZONES, "--out", "o", "--perimeter", "around"], "invalid choice: 'around'",
         "dronepatrol plan --help"),
        (["plan", ZONES, "--out", "o", "--speed-mps", "30"], "above ArduCopter's 20 m/s limit",
         "at most 20 m/s"),
        (["plan", ZONES, "--out", "o", "--no-broadcast", "--spacing-m", "0.5"],
         "spacing_m 0.5 is below 5 m", "give at least 5 m"),
        (["fly"], "required: plan_dir", "dronepatrol fly --help"),
        (["fly", "missing"], "no such plan directory", "run `dronepatrol plan` first"),
        (["fly", "emptyplan", "--sim"], "no summary.json", "`dronepatrol plan` output"),
        (["fly", "notjson.geojson", "--sim"], "no such plan directory", "dronepatrol plan"),
        (["fly", "emptyplan", "--timeout-s", "soon"], "argument --timeout-s",
         "expected a number"),
        (["demo", "--speedup", "0"], "argument --speedup", "positive number"),
        (["demo", "--drones", "x"], "argument --drones", "whole number"),
        (["demo", "--out", "notjson.geojson"], "exists and is not a directory", "give --out"),
        (["report"], "required: plan_dir", "dronepatrol report --help"),
        (["report", "missing"], "no such plan directory", "dronepatrol plan"),
        (["report", "adir"], "not a plan directory", "run `dronepatrol plan ZONES --out"),
        (["report", "emptyplan", "--grid-m", "0"], "argument --grid-m", "positive number"),
        (["speaker", "--plan", "adir"], "required: --connect", "dronepatrol speaker --help"),
        (["speaker", "--connect", "tcp:127.0.0.1:1", "--plan", "adir"],
         "no <route>.companion.json", "run `dronepatrol plan`"),
        (["sim", "--vehicles", "x"], "argument --vehicles", "dronepatrol sim --help"),
    ],
)
def test_bad_input_is_one_line_saying_what_to_do(bad_files, args, needle, fix):
    assert_one_error(run_in(bad_files, *args), needle, fix)


def test_fly_with_a_damaged_plan_file(tmp_path, plan_dir):
    import shutil

    d = tmp_path / "p"
    shutil.copytree(plan_dir, d)
    (d / "routes.geojson").write_text('{"type": "FeatureCollection", "feat', encoding="utf-8")
    assert_one_error(run("fly", str(d), "--sim"), "routes.geojson: damaged or truncated",
                     "re-run `dronepatrol plan`")
    (d / "routes.geojson").write_text('{"type": "FeatureCollection", "features": [{}]}',
                                      encoding="utf-8")
    assert_one_error(run("fly", str(d), "--sim"), "lacks what `dronepatrol fly` needs",
                     "re-run `dronepatrol plan`")


@pytest.mark.parametrize(
    ("extra", "needle", "fix"),
    [
        ([], "no vehicle to fly", "--connect URL per vehicle"),
        (["--sim", "--connect", "tcp:127.0.0.1:1"], "either --sim or --connect", "not both"),
        (["--connect", "tcp:127.0.0.1:1", "--connect", "tcp:127.0.0.1:2"],
         "2 --connect URLs for a plan of 1 vehicle(s)", "one --connect per vehicle"),
        (["--sim", "--signing-key", "zz"], "--signing-key", "64 hex digits"),
        # nothing listens on port 1: refused at once, the short timeout is a safety net
        (["--connect", "tcp:127.0.0.1:1", "--timeout-s", "3"],
         "vehicle-1 (tcp:127.0.0.1:1): cannot open MAVLink connection",
         "running and listening on that port"),
    ],
)
def test_fly_connection_errors(plan_dir, extra, needle, fix):
    assert_one_error(run("fly", str(plan_dir), *extra), needle, fix)


def test_report_without_flight_logs_says_fly_first(plan_dir):
    assert_one_error(run("report", str(plan_dir)), "no speaker logs",
                     f"dronepatrol fly {plan_dir} --sim")


@pytest.mark.parametrize(
    ("log", "needle"),
    [("missing.jsonl", "cannot read speaker log"), ("speaker.jsonl", "not a speaker log record"),
     ("adir", "cannot read speaker log")],
)
def test_report_with_a_bad_speaker_log(plan_dir, bad_files, log, needle):
    r = run("report", str(plan_dir), "--speaker-log", str(bad_files / log))
    assert_one_error(r, needle, "speaker-*.jsonl")


def test_speaker_with_an_unreachable_autopilot(plan_dir, tmp_path):
    r = run("speaker", "--connect", "tcp:127.0.0.1:1", "--plan", str(plan_dir), "--dry-run",
            "--log", str(tmp_path / "play.jsonl"))
    assert_one_error(r, "cannot open MAVLink connection 'tcp:127.0.0.1:1'",
                     "running and listening on that port")


def test_fly_sim_flies_a_small_plan_end_to_end(tmp_path):
    """`dronepatrol fly DIR --sim`: the built-in simulator starts at the plan's base, the drone
    flies the route, and the table names its sortie, battery use and log."""
    from shapely.geometry import box

    from common import city
    from dronepatrol.pipeline import zones_to_geojson

    zones = tmp_path / "small.geojson"
    zones.write_text(json.dumps(zones_to_geojson(city(("A", "sealed", box(0, 0, 120, 80)))),
                                ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "plan"
    assert main(["plan", str(zones), "--out", str(out), "--no-map", "--no-broadcast"]) == 0
    r = run("fly", str(out), "--sim", "--speedup", "40", "--timeout-s", "30")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "vehicle-1: 1/1 sorties, battery used " in r.stdout and "-> ok" in r.stdout
    assert (out / "flight" / "vehicle-1.tlog").stat().st_size > 0
    results = json.loads((out / "flight" / "results.json").read_text(encoding="utf-8"))
    assert results[0]["sorties_flown"] == 1 and results[0]["error"] is None
