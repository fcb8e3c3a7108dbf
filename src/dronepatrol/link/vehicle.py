"""A MAVLink client for one ArduCopter vehicle: missions, parameters, commands, progress.

Written against ArduCopter's documented behaviour (streams off by default, MISSION_REQUEST
during uploads, MAVLink 2 for fence/rally, seconds of pre-arm checks after boot, NAV_TAKEOFF
only in GUIDED when armed) so it flies ArduPilot SITL, real vehicles and the built-in
simulator alike.

>>> with Vehicle.connect("tcp:127.0.0.1:5760") as v:          # doctest: +SKIP
...     v.upload_mission(items, verify=True)
...     v.start_mission()
...     for p in v.progress():
...         print(p.current_item, p.total_items, p.battery_pct)
"""

from __future__ import annotations

import collections
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dronepatrol.errors import LinkError, MissionError
from dronepatrol.link import _codec
from dronepatrol.link._connection import Connection
from dronepatrol.link.failsafe import recommended_failsafe_params
from dronepatrol.link.params import aliases, convert
from dronepatrol.link.preflight import check_capacity, check_item_types
from dronepatrol.link.progress import Progress
from dronepatrol.mission import FENCE, MISSION, RALLY, MissionItem

_ACCEPTED = 0
_IN_PROGRESS = 5
_MISSION_ACCEPTED = 0
_MISSION_ERROR = 1
_MISSION_INVALID_SEQUENCE = 13
_MISSION_DENIED = 14
_MISSION_CANCELLED = 15
_RTL_MODES = {6, 21, 27}
# (message id, rate in Hz) requested after connecting; ArduCopter streams nothing by default.
_TELEMETRY = (
    (_codec.MSG_GLOBAL_POSITION_INT, 1.0), (_codec.MSG_SYS_STATUS, 1.0),
    (_codec.MSG_MISSION_CURRENT, 1.0), (_codec.MSG_VFR_HUD, 1.0),
    (_codec.MSG_BATTERY_STATUS, 0.5), (_codec.MSG_FENCE_STATUS, 0.5),
    (_codec.MSG_HOME_POSITION, 0.2), (_codec.MSG_GPS_RAW_INT, 0.5),
)


class _Refused(LinkError):
    """The vehicle answered a command with a result other than ACCEPTED."""

    def __init__(self, message: str, result: int) -> None:
        super().__init__(message)
        self.result = result


class _Inbox:
    def __init__(self, types: frozenset[str]) -> None:
        self.types = types
        self.queue: queue.Queue[Any] = queue.Queue()

    def get(self, timeout_s: float) -> Any:
        try:
            return self.queue.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return None


class Vehicle:
    """One vehicle (system id) on a MAVLink link. Create with :meth:`connect`."""

    def __init__(self, connection: Connection, system_id: int, component_id: int, *,
                 link_timeout_s: float = 3.0, telemetry_hz: float = 4.0,
                 _token: object = None) -> None:
        if _token is not _TOKEN:
            raise LinkError("create vehicles with Vehicle.connect(url) or Vehicle.connect_many()")
        self.connection = connection
        self.system_id = system_id
        self.component_id = component_id
        self.link_timeout_s = link_timeout_s
        self.telemetry_hz = telemetry_hz
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._inboxes: list[_Inbox] = []
        self._texts: collections.deque[tuple[float, int, str]] = collections.deque(maxlen=200)
        self._events: list[tuple[float, str]] = []
        self._param_names: dict[str, str] = {}
        self._param_types: dict[str, int] = {}
        self._closed = False
        self._rtt_s = 0.25  # smoothed request -> answer round trip, until measured
        self._rtt_samples = 0
        # state
        self.lat_deg: float | None = None
        self.lon_deg: float | None = None
        self.alt_m: float | None = None
        self.alt_amsl_m: float | None = None
        self.groundspeed_mps: float | None = None
        self.battery_pct: float | None = None
        self.mode_number: int | None = None
        self.armed = False
        self.system_status = 0
        self.mission_current = 0
        self.mission_total = 0
        self.mission_state: int | None = None  # MISSION_CURRENT.mission_state (3 active...)
        self.home: tuple[float, float, float] | None = None
        self.link_ok = True
        self._last_heartbeat = time.monotonic()
        self._last_position = 0.0
        self._last_stream_request = 0.0
        self._stream_thread: threading.Thread | None = None
        self._fence_breached = False
        self._complete_reported = False
        self._last_event_text: dict[str, float] = {}
        connection.attach(system_id, self._on_message, self._tick)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def connect(cls, url: str, *, timeout_s: float = 30.0, source_system: int = 255,
                source_component: int = 190, signing_key: bytes | None = None,
                target_system: int | None = None, log_path: str | Path | None = None,
                baud: int = 57600, link_timeout_s: float = 3.0,
                telemetry_hz: float = 4.0) -> Vehicle:
        """Open ``url`` (tcp:, udpin:, udpout:, serial ``/dev/ttyUSB0,57600``) and wait for the
        autopilot's heartbeat (``target_system`` or the first one heard); GCS and companion
        heartbeats are ignored. Requests telemetry; every received packet goes to ``log_path``.
        """
        wanted = None if target_system is None else [target_system]
        return cls.connect_many(url, target_systems=wanted, count=1, timeout_s=timeout_s,
                                source_system=source_system, source_component=source_component,
                                signing_key=signing_key, log_path=log_path, baud=baud,
                                link_timeout_s=link_timeout_s, telemetry_hz=telemetry_hz)[0]

    @classmethod
    def connect_many(cls, url: str, *, target_systems: Sequence[int] | None = None,
                     count: int = 1, timeout_s: float = 30.0, source_system: int = 255,
                     source_component: int = 190, signing_key: bytes | None = None,
                     log_path: str | Path | None = None, baud: int = 57600,
                     link_timeout_s: float = 3.0, telemetry_hz: float = 4.0) -> list[Vehicle]:
        """Several vehicles (system ids) on one link, e.g. a radio or a UDP port shared by a
        swarm: waits for ``target_systems`` or for ``count`` distinct autopilots."""
        if count < 1:
            raise LinkError(f"count={count}: ask for at least one vehicle")
        connection = Connection(url, source_system=source_system,
                                source_component=source_component, signing_key=signing_key,
                                log_path=log_path, baud=baud)
        vehicles: list[Vehicle] = []
        try:
            found = connection.discover(wanted=set(target_systems) if target_systems else None,
                                        count=count, timeout_s=timeout_s)
            for sysid, compid, hb in found[: len(target_systems) if target_systems else count]:
                vehicle = cls(connection, sysid, compid, link_timeout_s=link_timeout_s,
                              telemetry_hz=telemetry_hz, _token=_TOKEN)
                vehicle._on_message(hb)
                vehicles.append(vehicle)
            for vehicle in vehicles:
                vehicle._request_streams()
        except BaseException:
            for vehicle in vehicles:
                vehicle.close()
            connection.close()
            raise
        return vehicles

    def close(self) -> None:
        """Stop talking to the vehicle (it keeps flying; its failsafes apply)."""
        if self._closed:
            return
        self._closed = True
        self.connection.detach(self.system_id, self._tick)

    def __enter__(self) -> Vehicle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Vehicle(system_id={self.system_id}, url={self.connection.url!r}, " \
               f"mode={self.mode!r}, armed={self.armed})"

    # -- incoming messages --------------------------------------------------------------------
    def _event(self, name: str) -> None:
        self._events.append((time.time(), name))

    def _text_event(self, name: str) -> None:
        now = time.monotonic()
        if now - self._last_event_text.get(name, -10.0) > 2.0:
            self._event(name)
        self._last_event_text[name] = now

    def _on_message(self, msg: Any) -> None:
        kind = msg.get_type()
        with self._changed:
            if kind == "HEARTBEAT":
                self._on_heartbeat(msg)
            elif kind == "GLOBAL_POSITION_INT":
                self.lat_deg, self.lon_deg = msg.lat / 1e7, msg.lon / 1e7
                self.alt_m, self.alt_amsl_m = msg.relative_alt / 1000.0, msg.alt / 1000.0
                self._last_position = time.monotonic()
            elif kind == "VFR_HUD":
                self.groundspeed_mps = float(msg.groundspeed)
            elif kind == "SYS_STATUS":
                if msg.battery_remaining >= 0:
                    self.battery_pct = float(msg.battery_remaining)
            elif kind == "BATTERY_STATUS":
                if msg.battery_remaining >= 0:
                    self.battery_pct = float(msg.battery_remaining)
            elif kind == "MISSION_CURRENT":
                self._on_mission_current(msg)
            elif kind == "MISSION_ITEM_REACHED":
                if self.mission_total and msg.seq >= self.mission_total:
                    self._mission_complete()
            elif kind == "HOME_POSITION":
                self.home = (msg.latitude / 1e7, msg.longitude / 1e7, msg.altitude / 1000.0)
            elif kind == "FENCE_STATUS":
                breached = bool(msg.breach_status)
                if breached and not self._fence_breached:
                    self._event("fence_breach")
                self._fence_breached = breached
            elif kind == "STATUSTEXT":
                text = str(msg.text).rstrip("\x00")
                self._texts.append((time.monotonic(), int(msg.severity), text))
                low = text.lower()
                if "failsafe" in low:
                    self._text_event("failsafe")
                if "fence breach" in low:
                    self._text_event("fence_breach")
            self._changed.notify_all()
        for inbox in list(self._inboxes):
            if kind in inbox.types:
                inbox.queue.put(msg)

    def _on_heartbeat(self, msg: Any) -> None:
        if msg.autopilot == _codec.MAV_AUTOPILOT_INVALID or msg.type == _codec.MAV_TYPE_GCS:
            return
        if msg.get_srcComponent() != self.component_id:
            return
        self._last_heartbeat = time.monotonic()
        if not self.link_ok:
            self.link_ok = True
            self._event("link_restored")
            self._last_stream_request = 0.0  # ask for telemetry again
        mode = int(msg.custom_mode)
        if mode in _RTL_MODES and self.mode_number not in _RTL_MODES \
                and self.mode_number is not None:
            self._event("rtl")
        self.mode_number = mode
        self.armed = bool(msg.base_mode & _codec.MAV_MODE_FLAG_SAFETY_ARMED)
        status = int(msg.system_status)
        critical = (_codec.MAV_STATE_CRITICAL, _codec.MAV_STATE_EMERGENCY)
        if status in critical and self.system_status not in critical:
            self._text_event("failsafe")
        self.system_status = status

    def _on_mission_current(self, msg: Any) -> None:
        seq = int(msg.seq)
        if seq < self.mission_current:
            self._complete_reported = False
        self.mission_current = seq
        total = int(getattr(msg, "total", 0) or 0)
        if 0 < total < 0xFFFF:
            self.mission_total = total
        state = int(getattr(msg, "mission_state", 0) or 0)
        if state:
            self.mission_state = state
        if state == _codec.MISSION_STATE_COMPLETE:
            self._mission_complete()

    def _mission_complete(self) -> None:
        if not self._complete_reported:
            self._complete_reported = True
            self._event("mission_complete")

    def _tick(self) -> None:
        """Once a second from the heartbeat thread: link watchdog and telemetry re-request."""
        now = time.monotonic()
        with self._changed:
            if self.link_ok and now - self._last_heartbeat > self.link_timeout_s:
                self.link_ok = False
                self._event("link_lost")
                self._changed.notify_all()
            stale = now - self._last_position > max(3.0, 3.0 / self.telemetry_hz)
            due = now - self._last_stream_request > 5.0
        busy = self._stream_thread is not None and self._stream_thread.is_alive()
        if self.link_ok and stale and due and not busy and not self._closed:
            self._stream_thread = threading.Thread(target=self._request_streams, daemon=True,
                                                   name=f"streams {self.system_id}")
            self._stream_thread.start()

    @contextmanager
    def _listen(self, *types: str) -> Iterator[_Inbox]:
        inbox = _Inbox(frozenset(types))
        self._inboxes.append(inbox)
        try:
            yield inbox
        finally:
            self._inboxes.remove(inbox)

    def _send(self, name: str, *args: Any) -> None:
        if self._closed:
            raise LinkError(f"vehicle {self.system_id} is closed; connect again with "
                            "Vehicle.connect()")
        self.connection.send(name, *args)

    def _signing_hint(self) -> str:
        return self.connection.signing_hint()

    def _texts_since(self, mark: float) -> list[str]:
        with self._lock:
            return [text for t, _sev, text in self._texts if t >= mark]

    # -- state ----------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """Current flight mode name ("UNKNOWN" before the first heartbeat)."""
        if self.mode_number is None:
            return "UNKNOWN"
        return _codec.COPTER_MODE_NAMES.get(self.mode_number, f"MODE_{self.mode_number}")

    @property
    def status_texts(self) -> list[str]:
        """The last STATUSTEXT messages (up to 200), oldest first."""
        with self._lock:
            return [text for _t, _sev, text in self._texts]

    def snapshot(self, events: tuple[str, ...] = ()) -> Progress:
        """The vehicle's state now as a :class:`Progress`."""
        with self._lock:
            return Progress(
                time_s=time.time(), system_id=self.system_id,
                current_item=self.mission_current, total_items=self.mission_total,
                lat_deg=self.lat_deg, lon_deg=self.lon_deg, alt_m=self.alt_m,
                groundspeed_mps=self.groundspeed_mps, battery_pct=self.battery_pct,
                mode=self.mode, armed=self.armed, link_ok=self.link_ok,
                last_status_text=self._texts[-1][2] if self._texts else None, events=events,
            )

    def progress(self, *, interval_s: float = 1.0, timeout_s: float | None = None,
                 until: Sequence[str] = ("mission_complete",)) -> Iterator[Progress]:
        """Yield a snapshot every ``interval_s`` (sooner when an event happens) until one of
        ``until`` events or ``timeout_s``. Link loss never raises: it shows as events."""
        with self._lock:
            index = len(self._events)
        start = time.monotonic()
        while True:
            end = time.monotonic() + interval_s
            with self._changed:
                while len(self._events) == index and time.monotonic() < end:
                    self._changed.wait(timeout=end - time.monotonic())
                events = tuple(name for _t, name in self._events[index:])
                index = len(self._events)
            snap = self.snapshot(events)
            yield snap
            if set(events) & set(until):
                return
            if timeout_s is not None and time.monotonic() - start >= timeout_s:
                return

    def on_progress(self, callback: Callable[[Progress], None], *,
                    interval_s: float = 1.0) -> Callable[[], None]:
        """Call ``callback`` with a snapshot every ``interval_s`` from a background thread.
        Returns a function that stops the callbacks."""
        stop = threading.Event()

        def run() -> None:
            for snap in self.progress(interval_s=interval_s, until=()):
                if stop.is_set() or self._closed:
                    return
                callback(snap)

        threading.Thread(target=run, daemon=True, name=f"progress {self.system_id}").start()
        return stop.set

    def wait_until(self, condition: Callable[[Progress], bool], *, timeout_s: float,
                   what: str = "condition") -> Progress:
        """Block until ``condition(snapshot)`` is true; LinkError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            snap = self.snapshot()
            if condition(snap):
                return snap
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkError(f"vehicle {self.system_id}: {what} not reached within "
                                f"{timeout_s:g} s (last state: {snap})")
            with self._changed:
                self._changed.wait(timeout=min(left, 0.5))

    def wait_home(self, *, timeout_s: float = 60.0) -> tuple[float, float, float]:
        """Wait for HOME_POSITION (lat, lon, alt AMSL), asking for it every second."""
        deadline = time.monotonic() + timeout_s
        while self.home is None:
            if time.monotonic() > deadline:
                raise LinkError(f"vehicle {self.system_id} sent no HOME_POSITION within "
                                f"{timeout_s:g} s: it has no GPS fix yet or the link is down")
            self._send("command_long", self.system_id, self.component_id,
                       _codec.CMD_REQUEST_MESSAGE, 0, _codec.MSG_HOME_POSITION, 0, 0, 0, 0, 0, 0)
            with self._changed:
                self._changed.wait_for(lambda: self.home is not None, timeout=1.0)
        return self.home

    # -- commands -------------------------------------------------------------------------------
    def _command(self, command: int, params: Sequence[float], *, what: str,
                 timeout_s: float, retries: int, as_int: bool = False, frame: int = 0,
                 check: bool = True) -> tuple[int | None, list[str]]:
        p = [float(x) for x in params] + [0.0] * (7 - len(params))
        mark = time.monotonic()
        per_try = timeout_s / (retries + 1)
        result: int | None = None
        with self._listen("COMMAND_ACK") as inbox:
            for confirmation in range(retries + 1):
                if as_int:
                    self._send("command_int", self.system_id, self.component_id, frame, command,
                               0, 0, p[0], p[1], p[2], p[3], int(p[4]), int(p[5]), p[6])
                else:
                    self._send("command_long", self.system_id, self.component_id, command,
                               confirmation, *p)
                deadline = time.monotonic() + per_try
                while result is None:
                    msg = inbox.get(deadline - time.monotonic())
                    if msg is None:
                        break
                    if msg.command != command:
                        continue
                    if msg.result == _IN_PROGRESS:
                        deadline = max(deadline, mark + timeout_s)
                        continue
                    result = int(msg.result)
                    if confirmation == 0:
                        self._rtt_sample(time.monotonic() - mark)
                if result is not None:
                    break
        if result is None:
            if not check:
                return None, self._texts_since(mark)
            raise LinkError(f"{what}: vehicle {self.system_id} did not answer (no COMMAND_ACK "
                            f"after {retries + 1} tries in {timeout_s:g} s); is the link up?"
                            f"{self._signing_hint()}")
        if result != _ACCEPTED:
            time.sleep(0.1)  # STATUSTEXT reasons may trail the ACK
        texts = self._texts_since(mark)
        if check and result != _ACCEPTED:
            raise _Refused(self._refusal(what, result, texts), result)
        return result, texts

    def _refusal(self, what: str, result: int, texts: list[str]) -> str:
        said = "; ".join(texts) if texts else "no status text"
        return f"{what} refused by vehicle {self.system_id}: {_codec.result_name(result)} — {said}"

    def send_command_long(self, command: int, params: Sequence[float] = (), *,
                          timeout_s: float = 5.0, retries: int = 3) -> int:
        """Send COMMAND_LONG (up to 7 params), retrying with ``confirmation`` incremented.
        Returns the MAV_RESULT; raises LinkError (with the vehicle's words) unless ACCEPTED."""
        result, _ = self._command(command, params, what=f"command {command}",
                                  timeout_s=timeout_s, retries=retries)
        return result or 0

    def send_command_int(self, command: int, *, frame: int, params: Sequence[float] = (),
                         lat_deg: float = 0.0, lon_deg: float = 0.0, z: float = 0.0,
                         timeout_s: float = 5.0, retries: int = 3) -> int:
        """Send COMMAND_INT (positional); raises LinkError unless ACCEPTED."""
        p = [float(x) for x in params][:4] + [0.0] * (4 - len(params[:4]))
        p += [round(lat_deg * 1e7), round(lon_deg * 1e7), z]
        result, _ = self._command(command, p, what=f"command {command}", timeout_s=timeout_s,
                                  retries=retries, as_int=True, frame=frame)
        return result or 0

    def set_mode(self, mode: str | int, *, timeout_s: float = 5.0) -> None:
        """Switch flight mode (name such as "GUIDED" or Copter mode number) and confirm it in
        the heartbeat."""
        number = self._mode_number(mode)
        name = _codec.COPTER_MODE_NAMES.get(number, str(number))
        result, texts = self._command(_codec.CMD_DO_SET_MODE, [1, number],
                                      what=f"set_mode({name})", timeout_s=timeout_s,
                                      retries=3, check=False)
        if result is None or result == 3:  # no answer or UNSUPPORTED: legacy SET_MODE message
            self._send("set_mode", self.system_id, 1, number)
        elif result != _ACCEPTED:
            raise _Refused(self._refusal(f"set_mode({name})", result, texts), result)
        self.wait_until(lambda s: s.mode == name or self.mode_number == number,
                        timeout_s=timeout_s, what=f"mode {name} in the heartbeat")

    @staticmethod
    def _mode_number(mode: str | int) -> int:
        if isinstance(mode, int):
            return mode
        number = _codec.COPTER_MODES.get(mode.upper())
        if number is None:
            raise LinkError(f"unknown Copter mode {mode!r}; known: "
                            f"{', '.join(_codec.COPTER_MODES)}")
        return number

    def arm(self, *, timeout_s: float = 60.0, force: bool = False) -> None:
        """Arm, retrying while the vehicle answers with "PreArm:" reasons (EKF/GPS still
        settling) until ``timeout_s``; other refusals raise at once with the vehicle's words."""
        deadline = time.monotonic() + timeout_s
        while True:
            result, texts = self._command(
                _codec.CMD_COMPONENT_ARM_DISARM, [1, _codec.ARM_FORCE_MAGIC if force else 0],
                what="arm()", timeout_s=min(5.0, max(timeout_s, 1.0)), retries=3, check=False)
            if result == _ACCEPTED:
                self.wait_until(lambda s: s.armed, timeout_s=5.0, what="armed heartbeat")
                return
            if result is None:
                raise LinkError("arm(): vehicle did not answer (no COMMAND_ACK); link down?"
                                f"{self._signing_hint()}")
            settling = any(t.startswith("PreArm") for t in texts) and result in (1, 4)
            if not settling or time.monotonic() + 1.0 > deadline:
                raise LinkError(self._refusal("arm()", result, texts))
            time.sleep(1.0)

    def disarm(self, *, force: bool = False, timeout_s: float = 5.0) -> None:
        """Disarm (on the ground; ``force`` disarms in flight — the vehicle falls)."""
        self._command(_codec.CMD_COMPONENT_ARM_DISARM,
                      [0, _codec.ARM_FORCE_MAGIC if force else 0], what="disarm()",
                      timeout_s=timeout_s, retries=3)
        self.wait_until(lambda s: not s.armed, timeout_s=timeout_s, what="disarmed heartbeat")

    def _guided_when_ready(self, deadline: float) -> None:
        """GUIDED, retrying while the vehicle refuses (no position estimate yet)."""
        while self.mode != "GUIDED":
            try:
                self.set_mode("GUIDED")
            except _Refused as exc:
                if exc.result not in (1, 4) or time.monotonic() + 1.0 > deadline:
                    raise
                time.sleep(1.0)

    def set_guided(self, *, timeout_s: float = 60.0) -> None:
        """Switch to GUIDED, retrying while the vehicle refuses because it has no position
        estimate yet (ArduCopter after boot), until ``timeout_s``."""
        self._guided_when_ready(time.monotonic() + timeout_s)

    def takeoff(self, altitude_m: float, *, timeout_s: float = 60.0) -> None:
        """GUIDED, arm if needed, then NAV_TAKEOFF to ``altitude_m`` above home. Retries while
        the vehicle answers FAILED (EKF not yet using GPS) until ``timeout_s``."""
        if not 0 < altitude_m <= 1000:
            raise LinkError(f"takeoff altitude {altitude_m} m out of range (0, 1000]")
        deadline = time.monotonic() + timeout_s
        while True:
            self._guided_when_ready(deadline)
            if not self.armed:
                self.arm(timeout_s=max(1.0, deadline - time.monotonic()))
            result, texts = self._command(_codec.CMD_NAV_TAKEOFF,
                                          [0, 0, 0, 0, 0, 0, altitude_m], what="takeoff()",
                                          timeout_s=5.0, retries=3, check=False)
            if result == _ACCEPTED:
                return
            if result is None or result not in (1, 4) or time.monotonic() + 1 > deadline:
                raise LinkError(self._refusal("takeoff()", result if result is not None else 4,
                                              texts))
            time.sleep(1.0)

    def start_mission(self, *, timeout_s: float = 60.0) -> None:
        """Arm in GUIDED if needed, then MISSION_START (AUTO from the first item; the mission
        must begin with NAV_TAKEOFF, as ArduCopter requires)."""
        if not self.armed:
            deadline = time.monotonic() + timeout_s
            self._guided_when_ready(deadline)
            self.arm(timeout_s=max(1.0, deadline - time.monotonic()))
        with self._lock:
            self._complete_reported = False
        self._command(_codec.CMD_MISSION_START, [0, 0], what="start_mission()",
                      timeout_s=5.0, retries=3)

    def pause(self) -> None:
        """Pause the mission (DO_PAUSE_CONTINUE 0): the vehicle holds position.

        When the ACK of the first try is lost, ArduCopter answers the retry FAILED (already
        paused); that counts as done when MISSION_CURRENT then reports the mission paused."""
        self._pause_continue(resume=False)

    def resume(self) -> None:
        """Continue a paused mission (DO_PAUSE_CONTINUE 1); a FAILED retry counts as done when
        MISSION_CURRENT reports the mission active again."""
        self._pause_continue(resume=True)

    def _pause_continue(self, *, resume: bool) -> None:
        what = "resume()" if resume else "pause()"
        want = _codec.MISSION_STATE_ACTIVE if resume else _codec.MISSION_STATE_PAUSED
        result, texts = self._command(_codec.CMD_DO_PAUSE_CONTINUE, [1 if resume else 0],
                                      what=what, timeout_s=5.0, retries=3, check=False)
        if result == _ACCEPTED:
            return
        if result is None:
            raise LinkError(f"{what}: vehicle {self.system_id} did not answer (no COMMAND_ACK); "
                            f"is the link up?{self._signing_hint()}")
        if result == 4 and self._fresh_mission_state(timeout_s=2.0) == want:
            return
        raise _Refused(self._refusal(what, result, texts), result)

    def _fresh_mission_state(self, *, timeout_s: float) -> int | None:
        """mission_state from a MISSION_CURRENT received after asking for one (None: no
        answer, or firmware that does not fill mission_state)."""
        deadline = time.monotonic() + timeout_s
        with self._listen("MISSION_CURRENT") as inbox:
            while time.monotonic() < deadline:
                self._send("command_long", self.system_id, self.component_id,
                           _codec.CMD_REQUEST_MESSAGE, 0, _codec.MSG_MISSION_CURRENT,
                           0, 0, 0, 0, 0, 0)
                msg = inbox.get(min(0.5, deadline - time.monotonic()))
                if msg is not None:
                    return int(getattr(msg, "mission_state", 0) or 0) or None
        return None

    def rtl(self) -> None:
        """Return to launch (or the nearest rally point)."""
        self.set_mode("RTL")

    def land(self) -> None:
        """Land where the vehicle is."""
        self.set_mode("LAND")

    def goto(self, lat_deg: float, lon_deg: float, altitude_m: float, *,
             speed_mps: float | None = None) -> None:
        """Fly to a point (altitude above home) with COMMAND_INT DO_REPOSITION in GUIDED."""
        if not (-90 <= lat_deg <= 90 and -180 <= lon_deg <= 180):
            raise LinkError(f"goto({lat_deg}, {lon_deg}): lat/lon out of range "
                            "(MAVLink order is lat, lon)")
        self._command(_codec.CMD_DO_REPOSITION,
                      [-1 if speed_mps is None else speed_mps, 1, 0, math.nan,
                       round(lat_deg * 1e7), round(lon_deg * 1e7), altitude_m],
                      what="goto()", timeout_s=5.0, retries=3, as_int=True,
                      frame=_codec.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT)

    def change_speed(self, speed_mps: float) -> None:
        """Set the horizontal speed now (DO_CHANGE_SPEED, ground speed)."""
        if not speed_mps > 0:
            raise LinkError(f"change_speed({speed_mps}): speed must be positive (ArduCopter "
                            "answers DENIED otherwise)")
        self._command(_codec.CMD_DO_CHANGE_SPEED, [1, speed_mps, -1], what="change_speed()",
                      timeout_s=5.0, retries=3)

    def set_current_item(self, seq: int) -> None:
        """Make mission item ``seq`` (1 = first planned item) the current one."""
        result, texts = self._command(_codec.CMD_DO_SET_MISSION_CURRENT, [seq],
                                      what=f"set_current_item({seq})", timeout_s=5.0,
                                      retries=3, check=False)
        if result is None or result == 3:
            self._send("mission_set_current", self.system_id, self.component_id, seq)
            self.wait_until(lambda s: s.current_item == seq, timeout_s=5.0,
                            what=f"current item {seq}")
        elif result != _ACCEPTED:
            raise LinkError(self._refusal(f"set_current_item({seq})", result, texts))

    def reset_battery(self, *, percent: float = 100.0) -> None:
        """Tell the vehicle its battery is full again (MAV_CMD_BATTERY_RESET, after a swap)."""
        self._command(_codec.CMD_BATTERY_RESET, [0xFF, percent], what="reset_battery()",
                      timeout_s=5.0, retries=3)

    def _request_streams(self) -> None:
        """SET_MESSAGE_INTERVAL for each message, falling back to REQUEST_DATA_STREAM."""
        self._last_stream_request = time.monotonic()
        fallback = False
        for msg_id, rel in _TELEMETRY:
            interval_us = 1e6 / max(self.telemetry_hz * rel, 0.01)
            try:
                result, _ = self._command(_codec.CMD_SET_MESSAGE_INTERVAL, [msg_id, interval_us],
                                          what="SET_MESSAGE_INTERVAL", timeout_s=1.5,
                                          retries=2, check=False)
            except LinkError:
                return
            if result is None or result == 3:
                fallback = True
                break
        if fallback:
            for _ in range(3):
                self._send("request_data_stream", self.system_id, self.component_id, 0,
                           max(1, int(round(self.telemetry_hz))), 1)
        if self.home is None:
            self._send("command_long", self.system_id, self.component_id,
                       _codec.CMD_REQUEST_MESSAGE, 0, _codec.MSG_HOME_POSITION, 0, 0, 0, 0, 0, 0)

    # -- parameters -----------------------------------------------------------------------------
    def get_param(self, name: str, *, timeout_s: float = 5.0) -> float:
        """Read a parameter in the unit of ``name``, whichever name this firmware uses
        (``get_param("WP_SPD")`` answers m/s also on firmware that has WPNAV_SPEED in cm/s)."""
        name = name.upper()
        known = self._param_names.get(name)
        candidates = (known,) if known else aliases(name)
        deadline = time.monotonic() + timeout_s
        with self._listen("PARAM_VALUE") as inbox:
            while time.monotonic() < deadline:
                for candidate in candidates:
                    self._send("param_request_read", self.system_id, self.component_id,
                               candidate.encode(), -1)
                resend = min(deadline, time.monotonic() + 0.7)
                while True:
                    msg = inbox.get(resend - time.monotonic())
                    if msg is None:
                        break
                    pid = str(msg.param_id).rstrip("\x00")
                    if pid in candidates:
                        self._param_names[name] = pid
                        self._param_types[pid] = int(msg.param_type)
                        return convert(float(msg.param_value), from_name=pid, to_name=name)
        raise LinkError(f"get_param({name}): vehicle {self.system_id} did not answer for "
                        f"{' or '.join(candidates)} within {timeout_s:g} s; the parameter does "
                        f"not exist on this firmware or the link is down{self._signing_hint()}")

    def set_param(self, name: str, value: float, *, timeout_s: float = 5.0) -> float:
        """Set a parameter (value in the unit of ``name``) and confirm the vehicle's echo.
        Returns the confirmed value in the unit of ``name``."""
        name = name.upper()
        if not math.isfinite(value):
            raise LinkError(f"set_param({name}, {value}): value must be finite")
        if name not in self._param_names:
            self.get_param(name, timeout_s=timeout_s)
        real = self._param_names[name]
        ptype = self._param_types.get(real, 9)
        wire = convert(float(value), from_name=name, to_name=real)
        if ptype in (1, 2, 3, 4, 5, 6):  # integer types
            wire = float(round(wire))
        deadline = time.monotonic() + timeout_s
        last: float | None = None
        with self._listen("PARAM_VALUE") as inbox:
            while time.monotonic() < deadline:
                self._send("param_set", self.system_id, self.component_id, real.encode(), wire,
                           ptype)
                resend = min(deadline, time.monotonic() + 0.7)
                while True:
                    msg = inbox.get(resend - time.monotonic())
                    if msg is None:
                        break
                    if str(msg.param_id).rstrip("\x00") != real:
                        continue
                    last = float(msg.param_value)
                    if abs(last - wire) <= 1e-6 * max(1.0, abs(wire)):
                        return convert(last, from_name=real, to_name=name)
        if last is not None:
            raise LinkError(f"set_param({name}={value:g}): vehicle {self.system_id} kept "
                            f"{real}={last:g} (out of range or read-only?)")
        raise LinkError(f"set_param({name}={value:g}): no confirmation from vehicle "
                        f"{self.system_id} within {timeout_s:g} s{self._signing_hint()}")

    def apply_failsafe_params(self) -> dict[str, float]:
        """Set :func:`recommended_failsafe_params` (each confirmed); returns name -> value."""
        done: dict[str, float] = {}
        for p in recommended_failsafe_params():
            done[p.name] = self.set_param(p.name, p.value)
        return done

    # -- mission protocol ---------------------------------------------------------------------
    def _resend_s(self) -> float:
        """Resend timer: a few measured round trips, at least 20 ms, at most 1 s (ArduCopter
        itself re-requests a missing item after about 1 s)."""
        return min(1.0, max(0.02, 4.0 * self._rtt_s))

    def _rtt_sample(self, sample_s: float) -> None:
        sample_s = min(max(sample_s, 0.0), 2.0)
        if self._rtt_samples == 0:
            self._rtt_s = sample_s
        else:
            self._rtt_s = 0.875 * self._rtt_s + 0.125 * sample_s
        self._rtt_samples += 1

    def _upload(self, wire: list[MissionItem], mission_type: int, *, timeout_s: float,
                retries: int = 2) -> None:
        what = f"upload_{_codec.MISSION_TYPE_NAMES[mission_type]}({len(wire)} items)"
        count = len(wire)
        last_error = "no answer"
        for _attempt in range(retries + 1):
            mark = time.monotonic()
            outcome = self._upload_once(wire, mission_type, timeout_s=timeout_s, mark=mark)
            if outcome is None:
                return
            fatal, last_error = outcome
            if fatal:
                raise LinkError(f"{what} refused by vehicle {self.system_id}: {last_error}")
        raise LinkError(f"{what} to vehicle {self.system_id} failed after {retries + 1} "
                        f"attempts: {last_error} ({count} items){self._signing_hint()}")

    def _upload_once(self, wire: list[MissionItem], mission_type: int, *, timeout_s: float,
                     mark: float) -> tuple[bool, str] | None:
        """One upload attempt: None when accepted, else (fatal, reason).

        The vehicle drives the transfer (MISSION_REQUEST seq) and every request is answered at
        once. When the next request does not come within a few measured round trips, one
        item is sent again: the one the vehicle asked for last. ArduCopter answers an item it
        did not expect with INVALID_SEQUENCE, which then means it already holds that item
        (its next request was lost), so the following item goes out at once. Once the last
        item is out and no ACK comes, the vehicle is asked for its item count (DENIED: it is
        still receiving)."""
        count = len(wire)
        ts, tc = self.system_id, self.component_id
        current: int | None = None   # seq of the vehicle's latest request
        guess = 0                    # the item we believe the vehicle waits for
        probing = False              # one item re-sent by the timer, its answer pending
        answered_at = 0.0            # when the answer to `current` first went out
        clean = False                # `current` answered once only: its round trip counts
        backoff = 1.0
        last_tx = time.monotonic()
        deadline = last_tx + timeout_s
        timeouts = 0                 # timer expiries since the last new request
        probe_at: float | None = None
        types = ("MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK", "MISSION_COUNT")
        with self._listen(*types) as inbox:
            self._send("mission_count", ts, tc, count, mission_type)
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                due = last_tx + self._resend_s() * backoff
                msg = inbox.get(min(due, deadline) - now) if due > now else None
                now = time.monotonic()
                if msg is None:
                    if now < last_tx + self._resend_s() * backoff:
                        continue
                    # Our packet or the vehicle's answer was lost.
                    if current is None:
                        self._send("mission_count", ts, tc, count, mission_type)
                    elif guess >= count - 1:
                        # Either the last item or the final ACK was lost: send the item again
                        # (accepted if the vehicle still waits for it) and ask for the count
                        # (answered once the vehicle has finished; DENIED while receiving).
                        self._send_item(wire, count - 1, mission_type)
                        self._send("mission_request_list", ts, tc, mission_type)
                        probe_at = now
                    else:
                        self._send_item(wire, guess, mission_type)
                        probing = True
                    clean = False
                    last_tx = now
                    timeouts += 1
                    if timeouts > 2:  # several losses in a row: slow down, up to 1 s
                        backoff = min(backoff * 1.25, 1.0 / self._resend_s())
                    continue
                if getattr(msg, "mission_type", 0) != mission_type:
                    continue
                kind = msg.get_type()
                if kind == "MISSION_COUNT":
                    if probe_at is None:
                        continue
                    if int(msg.count) == count:
                        return None  # the final ACK was lost; the vehicle holds all items
                    return False, (f"the vehicle holds {int(msg.count)} items after the "
                                   "transfer (final MISSION_ACK lost)")
                if kind == "MISSION_ACK":
                    result = int(msg.type)
                    if result == _MISSION_ACCEPTED:
                        if guess >= count - 1 or count == 0:
                            return None
                        continue  # stale ACK of an earlier transfer
                    if result == _MISSION_INVALID_SEQUENCE:
                        # After a re-sent item: the vehicle already holds `guess` (its next
                        # request was lost), so send the next one now. A copy of the same
                        # answer comes sooner than a round trip after that send: ignore it.
                        if probing and guess < count - 1 and now - last_tx > 0.5 * self._rtt_s:
                            guess += 1
                            self._send_item(wire, guess, mission_type)
                            last_tx = now
                        continue
                    if result == _MISSION_DENIED and probe_at is not None \
                            and now - probe_at < 2.0:
                        continue  # answer to our count probe: still receiving
                    texts = "; ".join(self._texts_since(mark)) or "no status text"
                    reason = f"{_codec.mission_result_name(result)} — {texts}"
                    if result == _MISSION_CANCELLED:
                        return False, reason  # the vehicle timed the transfer out: start over
                    return True, reason
                seq = int(msg.seq)
                if seq >= count:
                    continue
                if current is not None and seq == current + 1 and clean:
                    self._rtt_sample(now - answered_at)
                clean = seq != current
                if seq != current:
                    answered_at = now
                    backoff = 1.0
                    timeouts = 0
                    deadline = max(deadline, now + min(timeout_s, 10.0))
                current = guess = seq
                probing = False
                self._send_item(wire, seq, mission_type)
                last_tx = now
        texts = "; ".join(self._texts_since(mark))
        where = "MISSION_COUNT" if current is None else f"item {current}"
        return False, f"timed out after {where}" + (f" ({texts})" if texts else "")

    def _send_item(self, wire: list[MissionItem], seq: int, mission_type: int) -> None:
        item = wire[seq]
        x, y, _ = _codec.item_to_wire(item)
        self._send("mission_item_int", self.system_id, self.component_id, seq, item.frame,
                   item.command, 0, int(item.autocontinue), item.param1, item.param2,
                   item.param3, item.param4, x, y, item.alt_m, mission_type)

    def _read_count(self, mission_type: int, timeout_s: float) -> int | None:
        deadline = time.monotonic() + timeout_s
        backoff = 1.0
        with self._listen("MISSION_COUNT") as inbox:
            while time.monotonic() < deadline:
                sent = time.monotonic()
                self._send("mission_request_list", self.system_id, self.component_id,
                           mission_type)
                wait_until = min(deadline, sent + max(0.05, self._resend_s()) * backoff)
                while (msg := inbox.get(wait_until - time.monotonic())) is not None:
                    if getattr(msg, "mission_type", 0) == mission_type:
                        if backoff == 1.0:
                            self._rtt_sample(time.monotonic() - sent)
                        return int(msg.count)
                backoff = min(backoff * 1.5, 1.0 / max(0.05, self._resend_s()))
        return None

    def _download(self, mission_type: int, *, timeout_s: float) -> list[MissionItem]:
        what = f"download_{_codec.MISSION_TYPE_NAMES[mission_type]}()"
        count = self._read_count(mission_type, timeout_s=min(timeout_s, 10.0))
        if count is None:
            raise LinkError(f"{what}: vehicle {self.system_id} sent no MISSION_COUNT; "
                            f"link down or vehicle busy{self._signing_hint()}")
        items: dict[int, MissionItem] = {}
        asked: dict[int, float] = {}
        window = 8
        deadline = time.monotonic() + timeout_s
        with self._listen("MISSION_ITEM_INT", "MISSION_ITEM", "MISSION_ACK") as inbox:
            while len(items) < count:
                now = time.monotonic()
                if now > deadline:
                    raise LinkError(f"{what}: got {len(items)} of {count} items from vehicle "
                                    f"{self.system_id} within {timeout_s:g} s")
                missing = [s for s in range(count) if s not in items][:window]
                reask_s = self._resend_s()
                for seq in missing:
                    if now - asked.get(seq, -1.0) > reask_s:
                        self._send("mission_request_int", self.system_id, self.component_id,
                                   seq, mission_type)
                        asked[seq] = now
                msg = inbox.get(reask_s)
                while msg is not None:
                    if msg.get_type() == "MISSION_ACK":
                        if getattr(msg, "mission_type", 0) == mission_type and \
                                int(msg.type) not in (_MISSION_ACCEPTED,
                                                      _MISSION_INVALID_SEQUENCE):
                            raise LinkError(f"{what}: vehicle {self.system_id} answered "
                                            f"{_codec.mission_result_name(int(msg.type))}")
                    elif getattr(msg, "mission_type", 0) == mission_type and msg.seq < count:
                        items[int(msg.seq)] = _codec.item_from_msg(msg, mission_type)
                    msg = inbox.get(0.0)
        self._send("mission_ack", self.system_id, self.component_id, _MISSION_ACCEPTED,
                   mission_type)
        return [items[s] for s in range(count)]

    def _clear(self, mission_type: int, *, timeout_s: float) -> None:
        what = f"clear_{_codec.MISSION_TYPE_NAMES[mission_type]}()"
        mark = time.monotonic()
        deadline = mark + timeout_s
        with self._listen("MISSION_ACK") as inbox:
            while time.monotonic() < deadline:
                self._send("mission_clear_all", self.system_id, self.component_id, mission_type)
                msg = inbox.get(0.5)
                while msg is not None and getattr(msg, "mission_type", 0) != mission_type:
                    msg = inbox.get(0.05)
                if msg is None:
                    continue
                if int(msg.type) == _MISSION_ACCEPTED:
                    return
                raise LinkError(self._refusal(what, 4, self._texts_since(mark)).replace(
                    "FAILED", _codec.mission_result_name(int(msg.type))))
        raise LinkError(f"{what}: no MISSION_ACK from vehicle {self.system_id} within "
                        f"{timeout_s:g} s{self._signing_hint()}")

    def _storage_raised(self, param: str) -> bool:
        try:
            return self.get_param(param, timeout_s=2.0) > 0
        except LinkError:
            return False

    def _verify(self, sent: Sequence[MissionItem], got: Sequence[MissionItem],
                mission_type: int) -> None:
        kind = _codec.MISSION_TYPE_NAMES[mission_type]
        if len(sent) != len(got):
            raise LinkError(f"verify {kind}: sent {len(sent)} items but vehicle "
                            f"{self.system_id} holds {len(got)}")
        for index, (a, b) in enumerate(zip(sent, got, strict=True)):
            alt_ok = abs(a.alt_m - b.alt_m) <= (1.0 if mission_type == RALLY else 1e-3)
            if not (_codec.wire_equal(a, MissionItem(**{**b.__dict__, "alt_m": a.alt_m}))
                    and alt_ok):
                raise LinkError(f"verify {kind}: item {index + 1} differs on vehicle "
                                f"{self.system_id}: sent {a}, read back {b}")

    def upload_mission(self, items: Sequence[MissionItem], *, home: tuple[float, float, float]
                       | None = None, verify: bool = True, timeout_s: float = 30.0) -> None:
        """Upload a mission (items without home; seq 0 becomes ``home`` (lat, lon, alt AMSL),
        the vehicle's known home, or a placeholder at the first item). The first item must be
        NAV_TAKEOFF, as ArduCopter requires to start on the ground."""
        items = list(items)
        check_item_types(items, MISSION, what="upload_mission")
        if not items:
            raise MissionError("upload_mission: no items; use clear_mission() to erase")
        if items[0].command != 22:
            raise MissionError(
                f"upload_mission: the first item is command {items[0].command}, but ArduCopter "
                "needs NAV_TAKEOFF (22) first ('Auto: Missing Takeoff Cmd'); add a takeoff")
        check_capacity(len(items) + 1, MISSION,
                       storage_param_set=len(items) + 1 > 650
                       and self._storage_raised("BRD_SD_MISSION"))
        where = home or self.home
        if where is None:
            first = next((i for i in items if i.lat_deg or i.lon_deg), items[0])
            where = (first.lat_deg, first.lon_deg, 0.0)
        home_item = MissionItem(command=16, frame=0, lat_deg=where[0], lon_deg=where[1],
                                alt_m=where[2])
        self._upload([home_item, *items], MISSION, timeout_s=timeout_s)
        with self._lock:
            self.mission_total = len(items)
        if verify:
            _, got = self.download_mission(timeout_s=timeout_s)
            self._verify(items, got, MISSION)

    def upload_fence(self, items: Sequence[MissionItem], *, verify: bool = True,
                     timeout_s: float = 30.0) -> None:
        """Upload geofence items (mission_type 1; polygon vertices consecutive)."""
        items = list(items)
        check_item_types(items, FENCE, what="upload_fence")
        check_capacity(len(items), FENCE, storage_param_set=len(items) > 69
                       and self._storage_raised("BRD_SD_FENCE"))
        self._upload(items, FENCE, timeout_s=timeout_s)
        if verify:
            self._verify(items, self.download_fence(timeout_s=timeout_s), FENCE)

    def upload_rally(self, items: Sequence[MissionItem], *, verify: bool = True,
                     timeout_s: float = 30.0) -> None:
        """Upload rally points (mission_type 2, NAV_RALLY_POINT)."""
        items = list(items)
        check_item_types(items, RALLY, what="upload_rally")
        self._upload(items, RALLY, timeout_s=timeout_s)
        if verify:
            self._verify(items, self.download_rally(timeout_s=timeout_s), RALLY)

    def download_mission(self, *, timeout_s: float = 30.0
                         ) -> tuple[MissionItem | None, list[MissionItem]]:
        """(home item or None, planned items without home)."""
        got = self._download(MISSION, timeout_s=timeout_s)
        if not got:
            return None, []
        return got[0], got[1:]

    def download_fence(self, *, timeout_s: float = 30.0) -> list[MissionItem]:
        """The fence items stored on the vehicle."""
        return self._download(FENCE, timeout_s=timeout_s)

    def download_rally(self, *, timeout_s: float = 30.0) -> list[MissionItem]:
        """The rally points stored on the vehicle."""
        return self._download(RALLY, timeout_s=timeout_s)

    def clear_mission(self, *, timeout_s: float = 10.0) -> None:
        """Erase the mission (MISSION_CLEAR_ALL, mission_type 0)."""
        self._clear(MISSION, timeout_s=timeout_s)
        with self._lock:
            self.mission_total = 0

    def clear_fence(self, *, timeout_s: float = 10.0) -> None:
        """Erase the geofence."""
        self._clear(FENCE, timeout_s=timeout_s)

    def clear_rally(self, *, timeout_s: float = 10.0) -> None:
        """Erase the rally points."""
        self._clear(RALLY, timeout_s=timeout_s)


_TOKEN = object()
