"""``dronepatrol sim`` / ``python -m dronepatrol.sim`` user errors, run as a user would: exit
status 2, one ``dronepatrol: error: ...`` line, no traceback, no unclosed socket or file."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dronepatrol.sim import free_port_block

ENTRY_POINTS = {
    "dronepatrol sim": [sys.executable, "-W", "default::ResourceWarning", "-m", "dronepatrol.cli",
                        "sim"],
    "python -m dronepatrol.sim": [sys.executable, "-W", "default::ResourceWarning", "-m",
                                  "dronepatrol.sim"],
}


def run_sim(entry: str, *args: str) -> str:
    """Run the simulator with bad arguments; return its one error line."""
    proc = subprocess.run([*ENTRY_POINTS[entry], *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "ResourceWarning" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dronepatrol: error: ")
    assert proc.stdout == ""  # the READY line never came
    return lines[0]


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_base_port_beyond_65535(entry: str) -> None:
    line = run_sim(entry, "--base-port", "99999")
    assert "--base-port 99999" in line and "1..65535" in line and "65526" in line


def test_last_vehicles_ports_must_fit_too() -> None:
    # 3 vehicles from 65500 use TCP 65500, 65510, 65520 and the block up to 65529: fine;
    # 4 vehicles reach 65539
    line = run_sim("dronepatrol sim", "--vehicles", "4", "--base-port", "65510")
    assert "65510..65549" in line and "choose a --base-port from 1 to 65496" in line


@pytest.mark.parametrize(("args", "says"), [
    (["--base-port", "0"], "--base-port 0"),
    (["--base-port", "6000", "--udp-base-port", "70000"], "--udp-base-port 70000"),
    (["--base-port", "6000", "--control-port", "-1"], "--control-port -1: must be 1..65535"),
    (["--base-port", "6000", "--control-port", "6000"], "also a vehicle's MAVLink TCP port"),
])
def test_other_port_errors(args: list[str], says: str) -> None:
    assert says in run_sim("python -m dronepatrol.sim", *args)


@pytest.mark.parametrize("below", [False, True])
def test_log_dir_that_is_a_file_is_named_as_such(tmp_path: Path, below: bool) -> None:
    afile = tmp_path / "speaker.jsonl"
    afile.write_text("not a directory\n")
    log_dir = afile / "logs" if below else afile
    line = run_sim("dronepatrol sim", "--base-port", str(free_port_block(1)),
                   "--log-dir", str(log_dir))
    assert "is a file, not a directory" in line and str(afile) in line
    assert "--base-port" not in line  # the ports are fine: do not blame them


def test_ports_in_use_are_reported_and_nothing_leaks(tmp_path: Path) -> None:
    base = free_port_block(2)
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", base + 10))  # vehicle 1's TCP port: vehicle 0's opened first
    holder.listen(1)
    try:
        line = run_sim("dronepatrol sim", "--vehicles", "2", "--base-port", str(base),
                       "--log-dir", str(tmp_path))
    finally:
        holder.close()
    assert f"cannot open simulator ports from {base}" in line
    assert "choose another --base-port" in line
