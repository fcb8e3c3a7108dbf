"""Every example script runs unchanged against the built-in simulator (short settings), so
none of them can rot."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


def run_example(name, *args, timeout=300):
    r = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{name} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def test_plan_city(tmp_path):
    out = run_example("plan_city.py", "--out", tmp_path)
    assert "covered" in out and (tmp_path / "map.png").exists()
    assert (tmp_path / "routes.geojson").exists()


def test_fly_one_drone_on_builtin_sim(tmp_path):
    out = run_example("fly_one_drone.py", "--out", tmp_path, "--speedup", "50")
    assert "landed: 1 sortie" in out
    assert (tmp_path / "flight" / "vehicle-1.tlog").stat().st_size > 1000


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_has_a_docstring_and_main(name):
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert text.lstrip().startswith('"""'), f"{name} needs a docstring saying how to run it"
    assert 'if __name__ == "__main__":' in text


def test_fleet_on_builtin_sim(tmp_path):
    out = run_example("fleet.py", "--out", tmp_path, "--drones", "2", "--sorties", "1",
                      "--speedup", "120")
    assert out.count("1/1 sorties") == 2
    assert (tmp_path / "schedule.png").exists()


def test_custom_broadcast_table(tmp_path):
    out = run_example("custom_broadcast.py", "--out", tmp_path, "--text",
                      "Please go home now.", "--language", "en")
    assert "alt_m  radius_m  spacing_m" in out
    assert (tmp_path / "message-1.wav").exists()


def test_speaker_agent_dry_run_beside_a_simulated_drone(tmp_path):
    out = run_example("speaker_dry_run.py", "--out", tmp_path, "--speedup", "50")
    assert "logged 2 broadcast(s)" in out
