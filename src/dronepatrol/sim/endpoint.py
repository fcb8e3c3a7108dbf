"""MAVLink side of one simulated vehicle: clients, telemetry streams, commands, params, missions.

Imported only inside the simulator process (it imports pymavlink's v2 ardupilotmega dialect).
Each ground station connection is a :class:`Client` with its own ``MAVLink`` encoder/parser, so
sequence numbers and signing state are per link, as on ArduPilot.
"""

from __future__ import annotations

import math
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from dronepatrol import mission as mc
from dronepatrol.sim import vehicle as vh
from dronepatrol.sim.geo import polygon_self_intersects
from dronepatrol.sim.params import ParamStore
from dronepatrol.sim.vehicle import Item, Vehicle

SPEAKER_COMPID = 25  # MAV_COMP_ID_USER1
AUTOPILOT_COMPID = 1
MAV_CMD_USER_1 = 31010
MAV_CMD_BATTERY_RESET = 42651
FORCE_MAGIC = 21196
MAX_WALL_RATE_HZ = 50.0
SIGNING_EPOCH = 1420070400
UPLOAD_RESEND_S = 1.0
UPLOAD_TIMEOUT_S = 8.0

# stream groups (REQUEST_DATA_STREAM stream ids) -> message ids, as ArduCopter's SRx/MAVx groups
GROUPS: dict[int, tuple[int, ...]] = {
    1: (),                       # RAW_SENSORS (not simulated)
    2: (1, 24, 42, 162),         # EXT_STAT: SYS_STATUS, GPS_RAW_INT, MISSION_CURRENT, FENCE_STATUS
    3: (),                       # RC_CHANNELS
    6: (33, 32),                 # POSITION: GLOBAL_POSITION_INT, LOCAL_POSITION_NED
    10: (30,),                   # EXTRA1: ATTITUDE
    11: (74,),                   # EXTRA2: VFR_HUD
    12: (2, 147, 245),           # EXTRA3: SYSTEM_TIME, BATTERY_STATUS, EXTENDED_SYS_STATE
}

MISSION_CMDS = {16, 17, 18, 19, 20, 21, 22, 30, 31, 42, 82, 83, 84, 85, 92, 93, 94, 112, 113,
                114, 115, 176, 177, 178, 179, 181, 182, 183, 184, 189, 191, 193, 200, 201, 202,
                203, 205, 206, 207, 208, 211, 212, 213, 214, 217, 218, 222, 223, 2000, 2001,
                2500, 2501, 3000, 31000, 31001, 31002, 31003, 31004, 42600, 42702, 42703}
FENCE_CMDS = {5000, 5001, 5002, 5003, 5004}
RALLY_CMDS = {5100}
MISSION_FRAMES = {0, 2, 3, 5, 6, 10, 11}


def _log(text: str) -> None:
    sys.stderr.write(f"[dronepatrol.sim] {text}\n")
    sys.stderr.flush()


class Client:
    """One ground-station link (a TCP connection or a UDP peer) to one vehicle."""

    def __init__(self, *, kind: str, sock: socket.socket, addr: Any, sysid: int,
                 link_id: int, signing_key: bytes | None, default_rate_hz: float) -> None:
        self.kind = kind
        self.sock = sock
        self.addr = addr
        self.outbuf = bytearray()
        self.alive = True
        self.last_rx_wall = time.monotonic()
        self.mav = mavlink.MAVLink(self, srcSystem=sysid, srcComponent=AUTOPILOT_COMPID)
        self.mav.robust_parsing = True
        self.rejected = 0
        if signing_key is not None:
            self.mav.signing.secret_key = signing_key
            self.mav.signing.sign_outgoing = True
            self.mav.signing.link_id = link_id & 0xFF
            self.mav.signing.timestamp = int((time.time() - SIGNING_EPOCH) * 100000)
            self.mav.signing.allow_unsigned_callback = _allow_unsigned
        # per-message stream interval in simulated seconds, next due sim time, last wall send
        self.interval_s: dict[int, float] = {}
        self.next_due: dict[int, float] = {}
        self.last_wall: dict[int, float] = {}
        if default_rate_hz > 0:
            for ids in GROUPS.values():
                for mid in ids:
                    self.interval_s[mid] = 1.0 / default_rate_hz

    def write(self, data: bytes) -> None:
        if not self.alive:
            return
        if self.kind == "udp":
            try:
                self.sock.sendto(data, self.addr)
            except OSError:
                pass
        else:
            self.outbuf += data

    def send(self, msg: Any, compid: int = AUTOPILOT_COMPID) -> None:
        if compid != AUTOPILOT_COMPID:
            self.mav.srcComponent = compid
            try:
                self.mav.send(msg)
            finally:
                self.mav.srcComponent = AUTOPILOT_COMPID
        else:
            self.mav.send(msg)

    def backlogged(self) -> bool:
        return len(self.outbuf) > 256 * 1024


def _allow_unsigned(_mav: Any, msg_id: int) -> bool:
    # ArduPilot accepts only RADIO_STATUS unsigned once a key is set
    return msg_id == mavlink.MAVLINK_MSG_ID_RADIO_STATUS


class Endpoint:
    """Everything one vehicle says and hears on MAVLink."""

    def __init__(self, vehicle: Vehicle, params: ParamStore, *, sysid: int,
                 clock: Callable[[], float]) -> None:
        self.v = vehicle
        self.params = params
        self.sysid = sysid
        self.clients: list[Client] = []
        self.clock = clock
        self.next_hb = 0.0
        self.last_hb_wall = 0.0
        self.transfers: dict[int, dict[str, Any]] = {}
        self.after_ack: list[Any] = []
        self.flight_sw = (4 << 24) | (7 << 16) | (0 << 8) | 0
        self.boot_unix_usec = 1_767_225_600_000_000  # fixed epoch: 2026-01-01, deterministic

    # ------------------------------------------------------------------ plumbing
    def add_client(self, c: Client) -> None:
        self.clients.append(c)

    def drop_client(self, c: Client) -> None:
        c.alive = False
        if c in self.clients:
            self.clients.remove(c)
        for mt, tr in list(self.transfers.items()):
            if tr["client"] is c:
                del self.transfers[mt]

    def broadcast(self, msg: Any, compid: int = AUTOPILOT_COMPID) -> None:
        for c in self.clients:
            c.send(msg, compid)

    def receive(self, c: Client, data: bytes) -> None:
        c.last_rx_wall = time.monotonic()
        try:
            msgs = c.mav.parse_buffer(data)
        except Exception as exc:  # pymavlink can raise on pathological input
            _log(f"vehicle {self.v.index}: parser error {exc!r}; buffer reset")
            c.mav.buf = bytearray()
            c.mav.buf_index = 0
            c.mav.expected_length = mavlink.HEADER_LEN_V1 + 2
            return
        for m in msgs or ():
            try:
                self.handle(c, m)
            except Exception as exc:  # never let one bad message stop the simulator
                _log(f"vehicle {self.v.index}: error handling {m.get_type()}: {exc!r}")

    # ------------------------------------------------------------------ events + telemetry
    def flush_events(self) -> None:
        v = self.v
        if not v.events:
            return
        events, v.events = v.events, []
        for ev in events:
            kind = ev[0]
            if kind == "statustext":
                self.broadcast(mavlink.MAVLink_statustext_message(ev[1], ev[2].encode(), 0, 0))
            elif kind == "mission_current":
                self.broadcast(self.build(42))
            elif kind == "reached":
                self.broadcast(mavlink.MAVLink_mission_item_reached_message(ev[1]))
            elif kind == "home":
                self.broadcast(self.build(242))

    def send_heartbeat_to(self, c: Client) -> None:
        c.send(self.build(0))

    def tick_telemetry(self, wall: float, *, idle_hb: bool = False, uncapped: bool = False
                       ) -> None:
        """Send heartbeats and due stream messages; rates in sim time, capped in wall time.

        ``idle_hb``: also send a heartbeat every wall second (driven clock while idle).
        ``uncapped``: ignore the wall-rate cap (end of a driven ``advance``).
        """
        now = self.v.now
        min_gap = 0.0 if uncapped else 1.0 / MAX_WALL_RATE_HZ
        if (now >= self.next_hb and wall - self.last_hb_wall >= min_gap) or (
                idle_hb and wall - self.last_hb_wall >= 1.0):
            self.next_hb = now + 1.0
            self.last_hb_wall = wall
            self.broadcast(self.build(0))
        cache: dict[int, Any] = {}
        for c in self.clients:
            if not c.interval_s or c.backlogged():
                continue
            for mid, interval in c.interval_s.items():
                due = c.next_due.get(mid, 0.0)
                if now < due or wall - c.last_wall.get(mid, -1.0) < min_gap:
                    continue
                msg = cache.get(mid)
                if msg is None:
                    msg = self.build(mid)
                    if msg is None:
                        continue
                    cache[mid] = msg
                c.send(msg)
                c.last_wall[mid] = wall
                c.next_due[mid] = now + interval

    def check_transfers(self, wall: float) -> None:
        for mt, tr in list(self.transfers.items()):
            if wall - tr["last_rx"] >= UPLOAD_TIMEOUT_S:
                del self.transfers[mt]
                self._mission_ack(tr["client"], tr["sysid"], tr["compid"],
                                  mavlink.MAV_MISSION_OPERATION_CANCELLED, mt)
                _log(f"vehicle {self.v.index}: upload of mission_type {mt} timed out")
            elif wall - tr["last_tx"] >= UPLOAD_RESEND_S:
                self._request_item(tr, wall)

    # ------------------------------------------------------------------ message builders
    def build(self, mid: int) -> Any:
        v = self.v
        p = self.params
        t_ms = int(v.now * 1000) & 0xFFFFFFFF
        lat, lon = v.latlon()
        lat_i, lon_i = int(round(lat * 1e7)), int(round(lon * 1e7))
        alt_amsl_mm = int(round((v.u + v.home_alt_amsl) * 1000))
        gs = math.hypot(v.vn, v.ve)
        if mid == 0:
            base = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
            if v.mode in vh.POSITION_MODES:
                base |= (mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
                         | mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED)
            else:
                base |= mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED | \
                    mavlink.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED
            if v.armed:
                base |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
            if v.failsafe_active:
                status = mavlink.MAV_STATE_CRITICAL
            elif v.armed:
                status = mavlink.MAV_STATE_ACTIVE
            elif not v.ready:
                status = mavlink.MAV_STATE_BOOT if v.now < 1.0 else mavlink.MAV_STATE_STANDBY
            else:
                status = mavlink.MAV_STATE_STANDBY
            return mavlink.MAVLink_heartbeat_message(
                mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, base, v.mode,
                status, 3)
        if mid == 1:
            sensors = (0x1 | 0x2 | 0x4 | 0x8 | 0x20 | 0x400 | 0x800 | 0x1000 | 0x2000 | 0x4000
                       | 0x8000 | 0x200000 | 0x2000000 | mavlink.MAV_SYS_STATUS_PREARM_CHECK)
            present = sensors
            enabled = sensors
            health = sensors
            if not v.ready:
                health &= ~(0x20 | 0x4000 | 0x200000 | mavlink.MAV_SYS_STATUS_PREARM_CHECK)
            if v.batt_low:
                health &= ~0x2000000
            fence = mavlink.MAV_SYS_STATUS_GEOFENCE
            if p["FENCE_TYPE"] or self.v.missions[1]:
                present |= fence
                if p["FENCE_ENABLE"]:
                    enabled |= fence
                if not v.fence_breaches:
                    health |= fence
            return mavlink.MAVLink_sys_status_message(
                present, enabled, health, 150, int(v.voltage_v * 1000), int(v.current_a * 100),
                v.battery_remaining_pct(), 0, 0, 0, 0, 0, 0, 0, 0, 0)
        if mid == 24:
            fix = 3 if v.ready else (1 if v.now < v.ready_delay_s / 2 else 2)
            cog = int(round((math.degrees(math.atan2(v.ve, v.vn)) % 360) * 100)) if gs > 0.2 \
                else 0
            return mavlink.MAVLink_gps_raw_int_message(
                int(v.now * 1e6), fix, lat_i, lon_i, alt_amsl_mm, 121, 200, int(gs * 100),
                cog, 10 if v.ready else 4, alt_amsl_mm, 300, 500, 100, 0, 0)
        if mid == 33:
            return mavlink.MAVLink_global_position_int_message(
                t_ms, lat_i, lon_i, alt_amsl_mm, int(round(v.u * 1000)), int(v.vn * 100),
                int(v.ve * 100), int(-v.vu * 100), int(round(v.yaw_deg * 100)) % 36000)
        if mid == 32:
            return mavlink.MAVLink_local_position_ned_message(
                t_ms, v.n, v.e, -v.u, v.vn, v.ve, -v.vu)
        if mid == 30:
            yaw = math.radians(v.yaw_deg)
            fwd = v.an * math.cos(yaw) + v.ae * math.sin(yaw)
            right = -v.an * math.sin(yaw) + v.ae * math.cos(yaw)
            pitch = -math.atan2(fwd, vh.GRAVITY)
            roll = math.atan2(right, vh.GRAVITY)
            if yaw > math.pi:
                yaw -= 2 * math.pi
            return mavlink.MAVLink_attitude_message(t_ms, roll, pitch, yaw, 0.0, 0.0, 0.0)
        if mid == 74:
            thr = 0 if not v.armed else (15 if v.landed else 50)
            return mavlink.MAVLink_vfr_hud_message(gs, gs, int(v.yaw_deg) % 360, thr,
                                                   v.u + v.home_alt_amsl, v.vu)
        if mid == 147:
            volts = [min(int(v.voltage_v * 1000), 65534)] + [65535] * 9
            charge = 3 if v.batt_crit else (2 if v.batt_low else 1)
            return mavlink.MAVLink_battery_status_message(
                0, 0, 1, 32767, volts, int(v.current_a * 100), int(v.consumed_mah), -1,
                v.battery_remaining_pct(), 0, charge, [0, 0, 0, 0], 0, 0)
        if mid == 242:
            return mavlink.MAVLink_home_position_message(
                int(round(v.home_lat * 1e7)), int(round(v.home_lon * 1e7)),
                int(round(v.home_alt_amsl * 1000)), 0.0, 0.0, 0.0, [1.0, 0.0, 0.0, 0.0],
                0.0, 0.0, 0.0, int(v.now * 1e6))
        if mid == 42:
            n = len(v.missions[0])
            if n <= 1:
                state = 1
            elif v.mission_complete:
                state = 5
            elif v.mode == vh.AUTO and v.armed and v.auto_armed:
                state = 4 if v.paused else 3
            else:
                state = 2
            return mavlink.MAVLink_mission_current_message(
                v.mission_seq, max(n - 1, 0), state, 1 if v.mode == vh.AUTO else 2)
        if mid == 162:
            b = v.fence_breaches
            btype = 2 if b & 1 else (3 if b & 6 else (1 if b & 8 else 0))
            return mavlink.MAVLink_fence_status_message(
                1 if b else 0, v.fence_breach_count & 0xFFFF, btype,
                int(v.fence_breach_time * 1000) & 0xFFFFFFFF, 1 if b else 0)
        if mid == 2:
            return mavlink.MAVLink_system_time_message(
                self.boot_unix_usec + int(v.now * 1e6), t_ms)
        if mid == 245:
            landed_state = 1 if v.landed else (4 if v.landing else 2)
            return mavlink.MAVLink_extended_sys_state_message(0, landed_state)
        if mid == 148:
            caps = (mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
                    | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
                    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT
                    | mavlink.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
                    | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
                    | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_LOCAL_NED
                    | mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2
                    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
                    | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY)
            return mavlink.MAVLink_autopilot_version_message(
                caps, self.flight_sw, 0, 0, 0, b"\0" * 8, b"\0" * 8, b"\0" * 8, 0x1209, 0x5740,
                self.sysid, [0] * 18)
        return None

    # ------------------------------------------------------------------ dispatch
    def _for_me(self, m: Any, allow_speaker: bool = False) -> bool:
        ts = getattr(m, "target_system", 0)
        tc = getattr(m, "target_component", 0)
        if ts not in (0, self.sysid):
            return False
        return tc in (0, AUTOPILOT_COMPID) or (allow_speaker and tc == SPEAKER_COMPID)

    def handle(self, c: Client, m: Any) -> None:
        t = m.get_type()
        if t == "BAD_DATA":
            reason = str(getattr(m, "reason", ""))
            if "signature" in reason:
                c.rejected += 1
                _log(f"vehicle {self.v.index}: signing: rejected unsigned or badly signed "
                     f"packet from {c.kind} {c.addr} (total {c.rejected})")
            return
        h = getattr(self, "_on_" + t, None)
        if h is not None:
            h(c, m)

    def _on_HEARTBEAT(self, c: Client, m: Any) -> None:
        if m.get_srcSystem() == int(self.params["MAV_GCS_SYSID"]):
            self.v.gcs_last_hb = self.v.now

    def _on_REQUEST_DATA_STREAM(self, c: Client, m: Any) -> None:
        if not self._for_me(m):
            return
        groups = list(GROUPS) if m.req_stream_id == 0 else [m.req_stream_id]
        for g in groups:
            for mid in GROUPS.get(g, ()):
                if m.start_stop and m.req_message_rate > 0:
                    c.interval_s[mid] = 1.0 / m.req_message_rate
                    c.next_due[mid] = 0.0
                else:
                    c.interval_s.pop(mid, None)

    # ------------------------------------------------------------------ params
    def _param_value(self, name: str) -> Any:
        idx = self.params.index[name]
        return mavlink.MAVLink_param_value_message(
            name.encode(), self.params[name], self.params.types[name], len(self.params.names),
            idx)

    def _on_PARAM_REQUEST_LIST(self, c: Client, m: Any) -> None:
        if self._for_me(m):
            self._sync_counts()
            for name in self.params.names:
                c.send(self._param_value(name))

    def _on_PARAM_REQUEST_READ(self, c: Client, m: Any) -> None:
        if not self._for_me(m):
            return
        self._sync_counts()
        if m.param_index >= 0:
            if m.param_index < len(self.params.names):
                c.send(self._param_value(self.params.names[m.param_index]))
            return
        name = _cstr(m.param_id)
        if name in self.params.values:
            c.send(self._param_value(name))

    def _on_PARAM_SET(self, c: Client, m: Any) -> None:
        if not self._for_me(m):
            return
        name = _cstr(m.param_id)
        if name not in self.params.values or not math.isfinite(m.param_value):
            return  # ArduPilot ignores unknown names and NaN/inf silently
        if not self.params.set(name, m.param_value):
            self.v.text(vh.SEV_WARNING, f"Param write denied ({name})")
        elif name == "SIM_SPEEDUP":
            pass
        self.flush_events()
        self.broadcast(self._param_value(name))

    def _sync_counts(self) -> None:
        p = self.params
        p.set("FENCE_TOTAL", float(len(self.v.missions[1])), force=True)
        p.set("RALLY_TOTAL", float(len(self.v.missions[2])), force=True)
        p.set("MIS_TOTAL", float(len(self.v.missions[0])), force=True)

    # ------------------------------------------------------------------ commands
    def _ack(self, c: Client, m: Any, cmd: int, result: int, compid: int = AUTOPILOT_COMPID
             ) -> None:
        self.flush_events()
        c.send(mavlink.MAVLink_command_ack_message(cmd, result, 0, 0, m.get_srcSystem(),
                                                   m.get_srcComponent()), compid)
        pending, self.after_ack = self.after_ack, []
        for msg in pending:  # as ArduPilot: the ACK first, the requested message after it
            c.send(msg)

    def _on_COMMAND_LONG(self, c: Client, m: Any) -> None:
        if not self._for_me(m, allow_speaker=True):
            return
        params = (m.param1, m.param2, m.param3, m.param4, m.param5, m.param6, m.param7)
        if m.target_component == SPEAKER_COMPID:
            if m.command == MAV_CMD_USER_1:
                self.v.speaker_trigger(int(m.param1), m.param2, int(m.param3), m.param4,
                                       trigger="companion")
                self._ack(c, m, m.command, 0, SPEAKER_COMPID)
            else:
                self._ack(c, m, m.command, 3, SPEAKER_COMPID)
            return
        loc = None
        if m.command in (179, 192):  # DO_SET_HOME / DO_REPOSITION: degrees, AMSL
            if math.isfinite(m.param5) and math.isfinite(m.param6):
                loc = (m.param5, m.param6, m.param7, 0)
        result = self._command(c, m.command, params, loc)
        self._ack(c, m, m.command, result)

    def _on_COMMAND_INT(self, c: Client, m: Any) -> None:
        if not self._for_me(m, allow_speaker=True):
            return
        params = (m.param1, m.param2, m.param3, m.param4, float(m.x), float(m.y), m.z)
        if m.target_component == SPEAKER_COMPID:
            ok = m.command == MAV_CMD_USER_1
            if ok:
                self.v.speaker_trigger(int(m.param1), m.param2, int(m.param3), m.param4,
                                       trigger="companion")
            self._ack(c, m, m.command, 0 if ok else 3, SPEAKER_COMPID)
            return
        loc = None
        if m.x != 0 or m.y != 0:
            loc = (m.x * 1e-7, m.y * 1e-7, m.z, m.frame)
        result = self._command(c, m.command, params, loc)
        self._ack(c, m, m.command, result)

    def _command(self, c: Client, cmd: int, p: tuple[float, ...],
                 loc: tuple[float, float, float, int] | None) -> int:
        v = self.v
        if cmd == 176:  # DO_SET_MODE
            return 0 if int(p[0]) & 1 and v.set_mode(int(p[1])) else 4
        if cmd == 400:  # COMPONENT_ARM_DISARM
            force = int(round(p[1])) == FORCE_MAGIC
            if p[0] >= 0.5:
                ok, why = v.arm(force)
                if not ok:
                    v.text(vh.SEV_CRITICAL, why or "Arm: failed")
                return 0 if ok else 4
            if not v.landed and not force:
                return 4
            v.disarm("gcs")
            if not v.landed:
                v.landed = True
                v.u = v.ground_u
            return 0
        if cmd == 22:  # NAV_TAKEOFF
            return 0 if v.takeoff(p[6]) else 4
        if cmd == 300:  # MISSION_START
            if p[0] != 0 or p[1] != 0:
                return 2
            return 0 if v.mission_start() else 4
        if cmd == 20:
            return 0 if v.set_mode(vh.RTL) else 4
        if cmd == 21:
            return 0 if v.set_mode(vh.LAND) else 4
        if cmd == 17:
            return 0 if v.set_mode(vh.LOITER) else 4
        if cmd == 192:  # DO_REPOSITION
            if loc is None:
                return 2
            if v.mode != vh.GUIDED:
                if not int(p[1]) & 1 or not v.set_mode(vh.GUIDED):
                    return 2 if not int(p[1]) & 1 else 4
            n, e = v.frame.to_ne(loc[0], loc[1])
            u = self._rel_alt(loc[2], loc[3])
            if p[0] > 0:
                v.speed_override = p[0]
            return 0 if v.guided_goto(n, e, u) else 4
        if cmd in (mc.DO_CHANGE_SPEED, mc.DO_SET_RELAY, mc.DO_SET_SERVO, mc.DO_SEND_SCRIPT_MESSAGE):
            return v.do_command(cmd, p[0], p[1], p[2], p[3], trigger="command")
        if cmd == 207:  # DO_FENCE_ENABLE
            if int(p[0]) in (0, 1):
                self.params.set("FENCE_ENABLE", float(int(p[0])))
                return 0
            return 4
        if cmd == 193:  # DO_PAUSE_CONTINUE (GCS_MAVLINK_Copter::handle_command_pause_continue)
            if int(p[0]) not in (0, 1):
                return 2
            pause = int(p[0]) == 0
            if not (v.pause_mission() if pause else v.resume_mission()):
                v.text(vh.SEV_INFO, "Failed to pause" if pause else "Failed to resume")
                return 4
            self.broadcast(self.build(42))
            return 0
        if cmd == 224:  # DO_SET_MISSION_CURRENT: FAILED for an index outside the mission
            return 0 if v.set_mission_current(int(p[0]), int(p[1]) == 1) else 4
        if cmd == MAV_CMD_BATTERY_RESET:  # p1 battery bitmask, p2 percentage (0..100)
            if not int(p[0]) & 1 or not 0.0 <= p[1] <= 100.0:
                return 4  # only battery instance 0 exists
            v.reset_battery(p[1])
            return 0
        if cmd == 511:  # SET_MESSAGE_INTERVAL
            mid = int(p[0])
            if self.build(mid) is None:
                return 2
            if p[1] < 0:
                c.interval_s.pop(mid, None)
            elif p[1] == 0:
                c.interval_s.pop(mid, None)  # default rate: 0 on Copter
            else:
                c.interval_s[mid] = p[1] / 1e6
                c.next_due[mid] = 0.0
            return 0
        if cmd == 512:  # REQUEST_MESSAGE
            mid = int(p[0])
            if mid == 242 and not v.home_set:
                return 4
            msg = self.build(mid)
            if msg is None:
                return 2
            self.after_ack.append(msg)
            return 0
        if cmd == 410:  # GET_HOME_POSITION
            if not v.home_set:
                return 4
            self.after_ack.append(self.build(242))
            return 0
        if cmd == 520:  # REQUEST_AUTOPILOT_CAPABILITIES
            self.after_ack.append(self.build(148))
            return 0
        if cmd == 179:  # DO_SET_HOME
            if int(p[0]) == 1:
                lat, lon = v.latlon()
                alt_amsl = v.home_alt_amsl + v.u
            elif loc is not None:
                lat, lon = loc[0], loc[1]
                alt_amsl = v.home_alt_amsl + self._rel_alt(loc[2], loc[3])
            else:
                return 2
            v.set_home(lat, lon, alt_amsl, lock=True)  # a GCS's home survives arming
            return 0
        if cmd == 115:  # CONDITION_YAW
            v.yaw_deg = p[0] % 360.0
            return 0
        return 3

    def _rel_alt(self, alt: float, frame: int) -> float:
        if frame in (0, 5):
            return alt - self.v.home_alt_amsl
        return alt

    def _on_SET_MODE(self, c: Client, m: Any) -> None:
        if m.target_system not in (0, self.sysid):
            return
        ok = bool(m.base_mode & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED) and \
            self.v.set_mode(int(m.custom_mode))
        self.flush_events()
        c.send(mavlink.MAVLink_command_ack_message(11, 0 if ok else 4, 0, 0,
                                                   m.get_srcSystem(), m.get_srcComponent()))

    def _on_SET_POSITION_TARGET_GLOBAL_INT(self, c: Client, m: Any) -> None:
        if not self._for_me(m):
            return
        v = self.v
        mask = m.type_mask
        if (mask & 0x7) != 0x7:
            n, e = v.frame.to_ne(m.lat_int * 1e-7, m.lon_int * 1e-7)
            u = v.u if mask & 0x4 else self._rel_alt(m.alt, m.coordinate_frame)
            v.guided_goto(n, e, u)
        elif (mask & 0x38) != 0x38:
            v.guided_velocity(m.vx, m.vy, -m.vz)

    def _on_SET_POSITION_TARGET_LOCAL_NED(self, c: Client, m: Any) -> None:
        if not self._for_me(m):
            return
        v = self.v
        mask = m.type_mask
        if (mask & 0x7) != 0x7:
            if m.coordinate_frame == 7:  # LOCAL_OFFSET_NED
                v.guided_goto(v.n + m.x, v.e + m.y, v.u - m.z)
            else:
                v.guided_goto(m.x, m.y, -m.z)
        elif (mask & 0x38) != 0x38:
            v.guided_velocity(m.vx, m.vy, -m.vz)

    # ------------------------------------------------------------------ mission protocol
    def _limit(self, mt: int) -> int:
        if mt == 0:
            kb = int(self.params["BRD_SD_MISSION"])
            return 650 if kb <= 0 else max(650, kb * 1024 // 15)
        if mt == 1:
            kb = int(self.params["BRD_SD_FENCE"])
            return 69 if kb <= 0 else max(69, kb * 1024 // 15)
        return 20  # RALLY_LIMIT: ArduPilot stores up to 20 rally points by default... see docs

    def _mission_ack(self, c: Client, sysid: int, compid: int, result: int, mt: int) -> None:
        self.flush_events()
        c.send(mavlink.MAVLink_mission_ack_message(sysid, compid, result, mt))

    def _request_item(self, tr: dict[str, Any], wall: float) -> None:
        tr["last_tx"] = wall
        tr["client"].send(mavlink.MAVLink_mission_request_message(
            tr["sysid"], tr["compid"], tr["next"], tr["mt"]))

    @staticmethod
    def _is_v2(m: Any) -> bool:
        buf = m.get_msgbuf()
        return bool(buf) and buf[0] == mavlink.PROTOCOL_MARKER_V2

    def _on_MISSION_COUNT(self, c: Client, m: Any) -> None:
        if not self._for_me(m):
            return
        mt = int(getattr(m, "mission_type", 0))
        sysid, compid = m.get_srcSystem(), m.get_srcComponent()
        if mt not in (0, 1, 2):
            self._mission_ack(c, sysid, compid, mavlink.MAV_MISSION_UNSUPPORTED, mt)
            return
        if mt != 0 and not self._is_v2(m):
            self.v.text(vh.SEV_WARNING, "Need mavlink2 for item transfer")
            self._mission_ack(c, sysid, compid, mavlink.MAV_MISSION_UNSUPPORTED, mt)
            return
        tr = self.transfers.get(mt)
        if tr is not None and (tr["client"] is not c or tr["sysid"] != sysid
                               or tr["compid"] != compid):
            self._mission_ack(c, sysid, compid, mavlink.MAV_MISSION_DENIED, mt)
            return
        limit = self._limit(mt)
        if m.count > limit:
            if mt == 0:
                self.v.text(vh.SEV_WARNING, f"Only {limit} items are supported")
                self._mission_ack(c, sysid, compid, mavlink.MAV_MISSION_NO_SPACE, mt)
            else:
                self._mission_ack(c, sysid, compid, mavlink.MAV_MISSION_ERROR, mt)
            return
        if m.count == 0:
            self.transfers.pop(mt, None)
            self._commit(mt, [])
            self._mission_ack(c, sysid, compid, mavlink.MAV_MISSION_ACCEPTED, mt)
            return
        wall = time.monotonic()
        tr = {"client": c, "sysid": sysid, "compid": compid, "mt": mt, "count": m.count,
              "next": 0, "items": [], "last_tx": wall, "last_rx": wall}
        self.transfers[mt] = tr
        self._request_item(tr, wall)

    def _on_MISSION_ITEM(self, c: Client, m: Any) -> None:
        self._mission_item(c, m, int(round(m.x * 1e7)), int(round(m.y * 1e7)))

    def _on_MISSION_ITEM_INT(self, c: Client, m: Any) -> None:
        self._mission_item(c, m, m.x, m.y)

    def _mission_item(self, c: Client, m: Any, x: int, y: int) -> None:
        if not self._for_me(m):
            return
        mt = int(getattr(m, "mission_type", 0))
        sysid, compid = m.get_srcSystem(), m.get_srcComponent()
        it = Item(m.seq, m.frame, m.command, m.current, m.autocontinue, m.param1, m.param2,
                  m.param3, m.param4, x, y, m.z, mt)
        if mt == 0 and m.current in (2, 3):
            self._guided_item(c, m, it)
            return
        tr = self.transfers.get(mt)
        if tr is None:
            return
        if tr["client"] is not c or tr["sysid"] != sysid or tr["compid"] != compid:
            self._mission_ack(c, sysid, compid, mavlink.MAV_MISSION_DENIED, mt)
            return
        if m.seq != tr["next"]:  # duplicates too (MissionItemProtocol::handle_mission_item)
            self._mission_ack(c, sysid, compid, mavlink.MAV_MISSION_INVALID_SEQUENCE, mt)
            return
        result = self._check_item(it, mt)
        if result != mavlink.MAV_MISSION_ACCEPTED:
            del self.transfers[mt]
            self._mission_ack(c, sysid, compid, result, mt)
            return
        tr["items"].append(it)
        tr["next"] += 1
        wall = time.monotonic()
        tr["last_rx"] = wall
        if tr["next"] < tr["count"]:
            self._request_item(tr, wall)
            return
        del self.transfers[mt]
        if mt == 1:
            err = _validate_fence(tr["items"], self.v)
            if err:
                self.v.text(vh.SEV_WARNING, err)
                self._mission_ack(c, sysid, compid, mavlink.MAV_MISSION_ERROR, mt)
                return
        self._commit(mt, tr["items"])
        self._mission_ack(c, sysid, compid, mavlink.MAV_MISSION_ACCEPTED, mt)

    def _check_item(self, it: Item, mt: int) -> int:
        if mt == 0:
            if it.seq == 0:
                return mavlink.MAV_MISSION_ACCEPTED  # home placeholder
            if it.command not in MISSION_CMDS:
                return mavlink.MAV_MISSION_UNSUPPORTED
            if it.frame not in MISSION_FRAMES:
                return mavlink.MAV_MISSION_UNSUPPORTED_FRAME
        elif mt == 1:
            if it.command not in FENCE_CMDS:
                return mavlink.MAV_MISSION_UNSUPPORTED
        elif it.command not in RALLY_CMDS:
            return mavlink.MAV_MISSION_UNSUPPORTED
        if not all(math.isfinite(x) for x in (it.param1, it.param2, it.param3, it.param4, it.z)):
            return mavlink.MAV_MISSION_INVALID
        return mavlink.MAV_MISSION_ACCEPTED

    def _commit(self, mt: int, items: list[Item]) -> None:
        v = self.v
        if mt == 0:
            if items:
                h = items[0]
                items[0] = Item(0, 0, 16, 0, 1, 0, 0, 0, 0, h.x, h.y, h.z, 0)
            v.missions[0] = items
            if v.mission_seq >= len(items):
                v.mission_seq = 0
        else:
            v.missions[mt] = items
            if mt == 1:
                v.rebuild_fence()
        self._sync_counts()

    def _guided_item(self, c: Client, m: Any, it: Item) -> None:
        v = self.v
        sysid, compid = m.get_srcSystem(), m.get_srcComponent()
        if v.mode != vh.GUIDED:
            self._mission_ack(c, sysid, compid, mavlink.MAV_MISSION_ERROR, 0)
            return
        if it.current == 3:
            tgt = v.target or (v.n, v.e, v.u)
            ok = v.guided_goto(tgt[0], tgt[1], self._rel_alt(it.z, it.frame))
        else:
            n, e, u = v.item_location(it)
            ok = v.guided_goto(n, e, u)
        self._mission_ack(c, sysid, compid, mavlink.MAV_MISSION_ACCEPTED if ok
                          else mavlink.MAV_MISSION_ERROR, 0)

    def _on_MISSION_REQUEST_LIST(self, c: Client, m: Any) -> None:
        if not self._for_me(m):
            return
        mt = int(getattr(m, "mission_type", 0))
        if mt not in (0, 1, 2):
            self._mission_ack(c, m.get_srcSystem(), m.get_srcComponent(),
                              mavlink.MAV_MISSION_UNSUPPORTED, mt)
            return
        if mt in self.transfers:  # ArduPilot: no downloads while an upload is in progress
            self._mission_ack(c, m.get_srcSystem(), m.get_srcComponent(),
                              mavlink.MAV_MISSION_DENIED, mt)
            return
        n = len(self.v.missions[mt])
        if mt == 0:
            n = max(n, 1)  # seq 0 (home) always exists
        c.send(mavlink.MAVLink_mission_count_message(m.get_srcSystem(), m.get_srcComponent(),
                                                     n, mt))

    def _download_item(self, mt: int, seq: int) -> Item | None:
        items = self.v.missions[mt]
        v = self.v
        if mt == 0 and seq == 0:
            return Item(0, 0, 16, 0, 1, 0, 0, 0, 0, int(round(v.home_lat * 1e7)),
                        int(round(v.home_lon * 1e7)), v.home_alt_amsl, 0)
        if 0 <= seq < len(items):
            return items[seq]
        return None

    def _on_MISSION_REQUEST_INT(self, c: Client, m: Any) -> None:
        self._send_download(c, m, as_int=True)

    def _on_MISSION_REQUEST(self, c: Client, m: Any) -> None:
        self._send_download(c, m, as_int=False)

    def _send_download(self, c: Client, m: Any, as_int: bool) -> None:
        if not self._for_me(m):
            return
        mt = int(getattr(m, "mission_type", 0))
        if mt in self.transfers:
            self._mission_ack(c, m.get_srcSystem(), m.get_srcComponent(),
                              mavlink.MAV_MISSION_DENIED, mt)
            return
        it = self._download_item(mt, m.seq) if mt in (0, 1, 2) else None
        if it is None:
            self._mission_ack(c, m.get_srcSystem(), m.get_srcComponent(),
                              mavlink.MAV_MISSION_INVALID_SEQUENCE, mt)
            return
        cur = 1 if (mt == 0 and it.seq == self.v.mission_seq) else 0
        if as_int:
            msg = mavlink.MAVLink_mission_item_int_message(
                m.get_srcSystem(), m.get_srcComponent(), it.seq, it.frame, it.command, cur,
                it.autocontinue, it.param1, it.param2, it.param3, it.param4, it.x, it.y, it.z,
                mt)
        else:
            msg = mavlink.MAVLink_mission_item_message(
                m.get_srcSystem(), m.get_srcComponent(), it.seq, it.frame, it.command, cur,
                it.autocontinue, it.param1, it.param2, it.param3, it.param4, it.x * 1e-7,
                it.y * 1e-7, it.z, mt)
        c.send(msg)

    def _on_MISSION_CLEAR_ALL(self, c: Client, m: Any) -> None:
        if not self._for_me(m):
            return
        mt = int(getattr(m, "mission_type", 0))
        if mt == 255:
            for t in (0, 1, 2):
                self.transfers.pop(t, None)
                self._commit(t, [])
        elif mt in (0, 1, 2):
            self.transfers.pop(mt, None)
            self._commit(mt, [])
        else:
            self._mission_ack(c, m.get_srcSystem(), m.get_srcComponent(),
                              mavlink.MAV_MISSION_UNSUPPORTED, mt)
            return
        self._mission_ack(c, m.get_srcSystem(), m.get_srcComponent(),
                          mavlink.MAV_MISSION_ACCEPTED, mt if mt != 255 else 255)

    def _on_MISSION_SET_CURRENT(self, c: Client, m: Any) -> None:
        if not self._for_me(m):
            return
        if self.v.set_mission_current(int(m.seq)):
            self.flush_events()
        self.broadcast(self.build(42))


def _validate_fence(items: list[Item], v: Vehicle) -> str | None:
    """ArduPilot-style fence checks; returns a STATUSTEXT for the first problem, or None."""
    i = 0
    while i < len(items):
        it = items[i]
        if it.command in (mc.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                          mc.NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
            count = int(it.param1)
            if count < 3:
                return f"Fence: polygon at item {i} needs >= 3 vertices (got {count})"
            group = items[i:i + count]
            if len(group) < count or any(g.command != it.command or int(g.param1) != count
                                         for g in group):
                return f"Fence: vertex count mismatch at item {i}"
            poly = [v.frame.to_ne(g.lat_deg, g.lon_deg) for g in group]
            if polygon_self_intersects(poly):
                return f"Fence: polygon at item {i} self-intersects"
            i += count
            continue
        if it.command in (mc.NAV_FENCE_CIRCLE_INCLUSION, mc.NAV_FENCE_CIRCLE_EXCLUSION) \
                and it.param1 <= 0:
            return f"Fence: circle at item {i} has radius {it.param1}"
        i += 1
    return None


def _cstr(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).split("\0", 1)[0]
