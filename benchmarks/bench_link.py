"""Upload+verify speed of dronepatrol.link against the built-in simulator, MAVProxy beside it.

Run: ``python benchmarks/bench_link.py [--speedup 20] [--skip-mavproxy]``. Prints one line per
case: transport, loss, what was uploaded, seconds for upload + read-back verification. The
baseline is MAVProxy's ``wp load`` (``pip install --no-deps MAVProxy``) on the same simulator
in the same run, timed from launch to "Sent all N waypoints"/ACK, process start included and
reported separately.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dronepatrol import mission as mc
from dronepatrol.link import LossyRelay, Vehicle
from dronepatrol.mission import MissionItem
from dronepatrol.sim import SimFleet, free_port_block

HOME = (52.0, 4.0, 10.0, 0.0)


def mission(n: int) -> list[MissionItem]:
    items = [MissionItem(command=mc.NAV_TAKEOFF, alt_m=20.0)]
    items += [MissionItem(command=mc.NAV_WAYPOINT, lat_deg=HOME[0] + 1e-5 * (i % 50),
                          lon_deg=HOME[1] + 1e-5 * (i // 50), alt_m=20.0 + i % 5)
              for i in range(n - 2)]
    items.append(MissionItem(command=mc.NAV_RETURN_TO_LAUNCH, frame=mc.FRAME_MISSION))
    return items


def fence(vertices: int) -> list[MissionItem]:
    import math

    return [MissionItem(command=mc.NAV_FENCE_POLYGON_VERTEX_INCLUSION, frame=mc.FRAME_GLOBAL,
                        param1=float(vertices),
                        lat_deg=HOME[0] + 0.01 * math.sin(2 * math.pi * k / vertices),
                        lon_deg=HOME[1] + 0.01 * math.cos(2 * math.pi * k / vertices),
                        mission_type=mc.FENCE) for k in range(vertices)]


def time_ours(url: str, what: str, items: list[MissionItem]) -> float:
    with Vehicle.connect(url, timeout_s=20) as v:
        t0 = time.perf_counter()
        if what == "fence":
            v.upload_fence(items, verify=True, timeout_s=120)
        else:
            v.upload_mission(items, verify=True, timeout_s=120)
        return time.perf_counter() - t0


def write_wpl(items: list[MissionItem], path: Path) -> None:
    lines = ["QGC WPL 110", f"0\t1\t0\t16\t0\t0\t0\t0\t{HOME[0]}\t{HOME[1]}\t{HOME[2]}\t1"]
    for seq, it in enumerate(items, start=1):
        lines.append(f"{seq}\t0\t{it.frame}\t{it.command}\t{it.param1}\t{it.param2}\t"
                     f"{it.param3}\t{it.param4}\t{it.lat_deg:.7f}\t{it.lon_deg:.7f}\t"
                     f"{it.alt_m}\t{int(it.autocontinue)}")
    path.write_text("\n".join(lines) + "\n")


def time_mavproxy(url: str, items: list[MissionItem], timeout_s: float = 120.0) -> float | None:
    exe = shutil.which("mavproxy.py") or str(Path(sys.executable).with_name("mavproxy.py"))
    if not Path(exe).exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        wpl = Path(tmp) / "m.txt"
        write_wpl(items, wpl)
        cmd = [sys.executable, exe, "--master", url, "--target-system=1",
               "--target-component=1", "--non-interactive", "--no-state",
               "--default-modules=wp", "--cmd", f"wp load {wpl}"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, cwd=tmp)
        assert proc.stdout is not None
        done = None
        try:
            for line in proc.stdout:
                if "Sent all" in line or "ACCEPTED" in line:
                    done = time.perf_counter() - t0
                    break
                if time.perf_counter() - t0 > timeout_s:
                    break
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speedup", type=float, default=20.0)
    parser.add_argument("--skip-mavproxy", action="store_true")
    args = parser.parse_args()
    cases = [("mission", 100), ("mission", 650), ("fence", 69)]
    print(f"{'transport':9} {'loss':>5} {'upload':14} {'ours s':>8} {'mavproxy s':>11}")
    with SimFleet(vehicles=1, home=HOME, speedup=args.speedup, seed=1,
                  base_port=free_port_block(1)) as fleet:
        tcp_port = int(fleet.connection_string(0).rsplit(":", 1)[1])
        udp_port = int(fleet.udp_connection_string(0).rsplit(":", 1)[1])
        for protocol, port in (("tcp", tcp_port), ("udp", udp_port)):
            for loss in (0.0, 0.2):
                with LossyRelay(("127.0.0.1", port), protocol=protocol, loss=loss,
                                duplicate=0.05 if loss else 0.0,
                                reorder=0.05 if loss else 0.0, seed=5) as relay:
                    for what, n in cases:
                        items = fence(n) if what == "fence" else mission(n - 1)
                        ours = time_ours(relay.url, what, items)
                        base = None
                        if what == "mission" and not args.skip_mavproxy:
                            base = time_mavproxy(relay.url, items)
                        base_s = "n/a" if base is None else f"{base:.2f}"
                        print(f"{protocol:9} {loss:5.0%} {what + ' ' + str(n):14} "
                              f"{ours:8.2f} {base_s:>11}", flush=True)


if __name__ == "__main__":
    main()
