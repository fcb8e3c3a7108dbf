"""Upload speed of dronepatrol.link against the built-in simulator, MAVProxy beside it.

Run: ``python benchmarks/bench_link.py [--reps 1] [--case-timeout 60] [--skip-mavproxy]``.
One line per case: transport, loss, what was uploaded, then seconds for

- ``ours up``: our upload until the vehicle's MISSION_ACK ACCEPTED;
- ``ours up+ver``: the same plus reading everything back and comparing (what ``verify=True``
  costs);
- ``mavproxy up``: MAVProxy's ``wp load`` (``pip install --no-deps MAVProxy``) on the same
  simulator through the same relay in the same run. MAVProxy is started first and waited for
  ("Detected vehicle"); the clock starts when ``wp load FILE`` is written to its stdin and stops
  at its own "Got MISSION_ACK: TYPE_MISSION: ACCEPTED" that follows its "Loaded N waypoints in"
  line for this transfer (falling back to "Sent all N waypoints" when the ACK is lost).
  MAVProxy does not read the mission back, so compare it with ``ours up``.

The vehicle runs with BRD_SD_MISSION / BRD_SD_FENCE raised so that the 700-item mission and the
200-vertex fence fit (the default limits are 650 and 69; the pace per item is the same). Loss
cases add 5% duplicates and 5% reordering. Every case has a time limit and prints "timeout"
instead of hanging; the whole run takes a few minutes.
"""

from __future__ import annotations

import argparse
import functools
import math
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dronepatrol import mission as mc
from dronepatrol.errors import LinkError
from dronepatrol.link import LossyRelay, Vehicle
from dronepatrol.mission import MissionItem
from dronepatrol.sim import SimFleet, free_port_block

HOME = (52.0, 4.0, 10.0, 0.0)


def mission(n: int) -> list[MissionItem]:
    """``n`` planned items (the vehicle holds n + 1 with home)."""
    items = [MissionItem(command=mc.NAV_TAKEOFF, alt_m=20.0)]
    items += [MissionItem(command=mc.NAV_WAYPOINT, lat_deg=HOME[0] + 1e-5 * (i % 50),
                          lon_deg=HOME[1] + 1e-5 * (i // 50), alt_m=20.0 + i % 5)
              for i in range(n - 2)]
    items.append(MissionItem(command=mc.NAV_RETURN_TO_LAUNCH, frame=mc.FRAME_MISSION))
    return items


def fence(vertices: int) -> list[MissionItem]:
    return [MissionItem(command=mc.NAV_FENCE_POLYGON_VERTEX_INCLUSION, frame=mc.FRAME_GLOBAL,
                        param1=float(vertices),
                        lat_deg=HOME[0] + 0.01 * math.sin(2 * math.pi * k / vertices),
                        lon_deg=HOME[1] + 0.01 * math.cos(2 * math.pi * k / vertices),
                        mission_type=mc.FENCE) for k in range(vertices)]


def _bounded(fn: Callable[[], tuple[float, float]], limit_s: float
             ) -> tuple[float, float] | str:
    """Run ``fn`` in a thread; "timeout" when it takes longer than ``limit_s``."""
    box: list[tuple[float, float] | str] = []

    def run() -> None:
        try:
            box.append(fn())
        except LinkError as exc:
            box.append(f"error: {exc}"[:60])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit_s)
    return box[0] if box else "timeout"


def time_ours(url: str, what: str, items: list[MissionItem]) -> tuple[float, float]:
    """(upload s, upload + verify s)."""
    with Vehicle.connect(url, timeout_s=20) as v:
        upload = v.upload_fence if what == "fence" else v.upload_mission
        t0 = time.perf_counter()
        upload(items, verify=False, timeout_s=120)
        up = time.perf_counter() - t0
        t0 = time.perf_counter()
        upload(items, verify=True, timeout_s=120)
        return up, time.perf_counter() - t0


def write_wpl(items: list[MissionItem], path: Path) -> None:
    lines = ["QGC WPL 110", f"0\t1\t0\t16\t0\t0\t0\t0\t{HOME[0]}\t{HOME[1]}\t{HOME[2]}\t1"]
    for seq, it in enumerate(items, start=1):
        lines.append(f"{seq}\t0\t{it.frame}\t{it.command}\t{it.param1}\t{it.param2}\t"
                     f"{it.param3}\t{it.param4}\t{it.lat_deg:.7f}\t{it.lon_deg:.7f}\t"
                     f"{it.alt_m}\t{int(it.autocontinue)}")
    path.write_text("\n".join(lines) + "\n")


def mavproxy_exe() -> str | None:
    exe = shutil.which("mavproxy.py") or str(Path(sys.executable).with_name("mavproxy.py"))
    return exe if Path(exe).exists() else None


def time_mavproxy(url: str, items: list[MissionItem], limit_s: float) -> float | str:
    """Seconds from ``wp load`` on stdin to MAVProxy's ACCEPTED for that transfer."""
    exe = mavproxy_exe()
    if exe is None:
        return "n/a"
    with tempfile.TemporaryDirectory() as tmp:
        wpl = Path(tmp) / "m.txt"
        write_wpl(items, wpl)
        n = len(items) + 1
        cmd = [sys.executable, exe, "--master", url, "--target-system=1",
               "--target-component=1", "--no-state", "--default-modules=wp"]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, cwd=tmp)
        assert proc.stdin is not None and proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        stdout = proc.stdout

        def pump() -> None:
            for line in stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()

        def wait_for(test: Callable[[str], bool], until: float) -> bool:
            while time.perf_counter() < until:
                try:
                    if test(lines.get(timeout=0.05)):
                        return True
                except queue.Empty:
                    continue
            return False

        try:
            if not wait_for(lambda s: "Detected vehicle" in s, time.perf_counter() + 30):
                return "no start"
            time.sleep(0.5)  # let its start-up requests settle
            while not lines.empty():
                lines.get_nowait()
            t0 = time.perf_counter()
            proc.stdin.write(f"wp load {wpl}\n")
            proc.stdin.flush()
            end = t0 + limit_s
            if not wait_for(lambda s: f"Loaded {n} waypoints in" in s, end):
                return "timeout"
            sent = time.perf_counter() - t0
            if wait_for(lambda s: "Got MISSION_ACK: TYPE_MISSION: ACCEPTED" in s,
                        min(end, time.perf_counter() + 3.0)):
                return time.perf_counter() - t0
            return sent  # the final ACK was lost; MAVProxy had sent everything
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _fmt(values: list[float | str], index: int | None = None) -> str:
    nums = [v[index] if index is not None and isinstance(v, tuple) else v for v in values]
    numbers = [float(x) for x in nums if isinstance(x, float)]
    if len(numbers) == len(nums) and numbers:
        return f"{statistics.median(numbers):.2f}"
    return next(str(x) for x in nums if not isinstance(x, float))[:14]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speedup", type=float, default=20.0)
    parser.add_argument("--reps", type=int, default=1, help="repetitions per case (median)")
    parser.add_argument("--case-timeout", type=float, default=60.0,
                        help="seconds before a case of ours reports 'timeout'")
    parser.add_argument("--mavproxy-timeout", type=float, default=15.0,
                        help="seconds before a MAVProxy case reports 'timeout'")
    parser.add_argument("--skip-mavproxy", action="store_true")
    args = parser.parse_args()
    cases = [("mission", 100), ("mission", 650), ("fence", 69), ("mission", 700),
             ("fence", 200)]
    print(f"{'transport':9} {'loss':>5} {'upload':13} {'ours up':>8} {'ours up+ver':>12} "
          f"{'mavproxy up':>12}")
    started = time.perf_counter()
    with SimFleet(vehicles=1, home=HOME, speedup=args.speedup, seed=1,
                  base_port=free_port_block(1),
                  params={"BRD_SD_MISSION": 64, "BRD_SD_FENCE": 16}) as fleet:
        tcp_port = int(fleet.connection_string(0).rsplit(":", 1)[1])
        udp_port = int(fleet.udp_connection_string(0).rsplit(":", 1)[1])
        for protocol, port in (("tcp", tcp_port), ("udp", udp_port)):
            for loss in (0.0, 0.2):
                for what, n in cases:
                    items = fence(n) if what == "fence" else mission(n - 1)
                    ours: list[float | str] = []
                    base: list[float | str] = []
                    for rep in range(args.reps):
                        with LossyRelay(("127.0.0.1", port), protocol=protocol, loss=loss,
                                        duplicate=0.05 if loss else 0.0,
                                        reorder=0.05 if loss else 0.0, seed=5 + rep) as relay:
                            got = _bounded(functools.partial(time_ours, relay.url, what, items),
                                           args.case_timeout)
                            ours.append(got)  # type: ignore[arg-type]
                            if what == "mission" and not args.skip_mavproxy:
                                base.append(time_mavproxy(relay.url, items,
                                                          args.mavproxy_timeout))
                    print(f"{protocol:9} {loss:5.0%} {what + ' ' + str(n):13} "
                          f"{_fmt(ours, 0):>8} {_fmt(ours, 1):>12} "
                          f"{_fmt(base) if base else 'n/a':>12}", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
