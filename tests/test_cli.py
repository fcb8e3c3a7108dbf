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
