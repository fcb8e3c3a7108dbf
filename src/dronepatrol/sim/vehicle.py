"""One simulated ArduCopter: point-mass flight model, modes, AUTO, failsafes, fence, speaker.

No MAVLink here: the vehicle exposes state and queues events (``events``) that the endpoint
turns into STATUSTEXT, MISSION_CURRENT, MISSION_ITEM_REACHED and HOME_POSITION messages.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dronepatrol import mission as mc
from dronepatrol.sim.geo import LocalFrame, point_in_polygon
from dronepatrol.sim.params import ParamStore
from dronepatrol.sim.speakerlog import SpeakerLogWriter

# Copter mode numbers (ArduCopter/mode.h)
STABILIZE, ALT_HOLD, AUTO, GUIDED, LOITER, RTL, CIRCLE, LAND = 0, 2, 3, 4, 5, 6, 7, 9
POSHOLD, BRAKE, SMART_RTL = 16, 17, 21
SUPPORTED_MODES = {STABILIZE, ALT_HOLD, AUTO, GUIDED, LOITER, RTL, LAND, POSHOLD, BRAKE,
                   SMART_RTL}
POSITION_MODES = {AUTO, GUIDED, LOITER, RTL, POSHOLD, BRAKE, SMART_RTL}
MODE_NAMES = {STABILIZE: "STABILIZE", ALT_HOLD: "ALT_HOLD", AUTO: "AUTO", GUIDED: "GUIDED",
              LOITER: "LOITER", RTL: "RTL", LAND: "LAND", POSHOLD: "POSHOLD", BRAKE: "BRAKE",
              SMART_RTL: "SMART_RTL"}

NAV_LOITER_UNLIM = 17
NAV_DELAY = 93
NAV_CMDS = {mc.NAV_WAYPOINT, NAV_LOITER_UNLIM, mc.NAV_LOITER_TIME, mc.NAV_RETURN_TO_LAUNCH,
            mc.NAV_LAND, mc.NAV_TAKEOFF, NAV_DELAY, 18, 31, 82, 83, 84, 85, 92, 94, 42702}

SEV_CRITICAL, SEV_ERROR, SEV_WARNING, SEV_NOTICE, SEV_INFO = 2, 3, 4, 5, 6

GRAVITY = 9.80665
DEFAULT_PLAY_S = 10.0


@dataclass(slots=True)
class Item:
    """A stored mission/fence/rally item as on the wire (x/y = lat/lon * 1e7 for global frames)."""

    seq: int
    frame: int
    command: int
    current: int
    autocontinue: int
    param1: float
    param2: float
    param3: float
    param4: float
    x: int
    y: int
    z: float
    mission_type: int = 0

    @property
    def lat_deg(self) -> float:
        return self.x * 1e-7

    @property
    def lon_deg(self) -> float:
        return self.y * 1e-7


@dataclass(slots=True)
class SpeakerState:
    message_id: int
    volume_pct: float
    repeat: int
    play_duration_s: float
    start_s: float
    next_sample_s: float


@dataclass
class FenceShapes:
    inclusion_polys: list[list[tuple[float, float]]] = field(default_factory=list)
    exclusion_polys: list[list[tuple[float, float]]] = field(default_factory=list)
    inclusion_circles: list[tuple[float, float, float]] = field(default_factory=list)
    exclusion_circles: list[tuple[float, float, float]] = field(default_factory=list)


class Vehicle:
    """State and behaviour of one copter. Times are simulated seconds."""

    def __init__(self, *, index: int, home: tuple[float, float, float, float], seed: int,
                 params: ParamStore, ready_delay_s: float, log_dir: Path | None) -> None:
        self.index = index
        self.params = params
        self.home_lat, self.home_lon, self.home_alt_amsl, heading = home
        self.frame = LocalFrame(self.home_lat, self.home_lon)
        # the ground is flat at the boot home's altitude; home may move (arming, DO_SET_HOME)
        self.ground_amsl = self.home_alt_amsl
        self.rng = random.Random(seed * 1000003 + index)
        self.ready_delay_s = ready_delay_s
        self.now = 0.0
        # kinematic state (north, east, up relative to home) in m and m/s
        self.n = self.e = self.u = 0.0
        self.vn = self.ve = self.vu = 0.0
        self.an = self.ae = 0.0
        self.yaw_deg = heading % 360.0
        self.gust_n = self.gust_e = 0.0
        self.armed = False
        self.landed = True
        self.mode = STABILIZE
        self.ready = False
        self.home_set = False
        self.home_locked = False  # set by a GCS's DO_SET_HOME: arming then keeps home
        self.landed_since: float | None = 0.0
        self.auto_armed = False
        # navigation targets
        self.target: tuple[float, float, float] | None = None
        self.corner_speed = 0.0
        self.vel_target: tuple[float, float, float] | None = None
        self.vel_target_until = 0.0
        self.landing = False
        self.speed_override: float | None = None
        self.climb_override: float | None = None
        self.descent_override: float | None = None
        self.rtl_phase = ""
        self.rtl_dest: tuple[float, float] = (0.0, 0.0)
        # mission
        self.missions: dict[int, list[Item]] = {0: [], 1: [], 2: []}
        self.mission_seq = 0
        self.nav_phase = ""
        self.nav_hold_until: float | None = None
        self.nav_delay_s = 0.0
        self.mission_complete = False
        self.paused = False
        self.jump_counts: dict[int, int] = {}
        self.relays: dict[int, int] = {}
        self.servos: dict[int, int] = {}
        self.fence = FenceShapes()
        # battery
        self.consumed_mah = 0.0
        self.current_a = 0.0
        self.voltage_v = 16.8
        self.batt_low = False
        self.batt_crit = False
        self.low_volt_since: float | None = None
        self.crit_volt_since: float | None = None
        # failsafes / fence
        self.gcs_last_hb: float | None = None
        self.gcs_fs = False
        self.fence_breaches = 0  # bitmask of FENCE_BREACH_* style bits
        self.fence_breach_count = 0
        self.fence_breach_time = 0.0
        self.events: list[tuple[Any, ...]] = []
        # speaker
        self.speaker: SpeakerState | None = None
        self.speaker_log = SpeakerLogWriter(
            None if log_dir is None else log_dir / f"speaker-{index}.jsonl")

    # ------------------------------------------------------------------ helpers
    def text(self, severity: int, text: str) -> None:
        self.events.append(("statustext", severity, text[:50]))

    def latlon(self) -> tuple[float, float]:
        return self.frame.to_latlon(self.n, self.e)

    @property
    def failsafe_active(self) -> bool:
        return self.batt_low or self.batt_crit or self.gcs_fs or bool(self.fence_breaches)

    def battery_remaining_pct(self) -> int:
        cap = max(self.params["BATT_CAPACITY"], 1.0)
        return max(0, min(100, int(round(100.0 * (1.0 - self.consumed_mah / cap)))))

    def wp_speed(self) -> float:
        if self.speed_override is not None:
            return self.speed_override
        return max(0.2, self.params["WP_SPD"])

    def set_home_here(self) -> None:
        self.home_set = True
        self.events.append(("home",))

    @property
    def ground_u(self) -> float:
        """Height of the ground relative to home (0 unless home was moved up or down)."""
        return self.ground_amsl - self.home_alt_amsl

    def set_home(self, lat_deg: float, lon_deg: float, alt_amsl_m: float, *,
                 lock: bool) -> None:
        """Move home (Copter::set_home) and re-base the local frame on it.

        The vehicle, its targets and the fence stay where they are on the Earth: only their
        north/east/up coordinates change. ``lock`` (a GCS's DO_SET_HOME) keeps home from
        being moved again when the vehicle arms.
        """
        old = self.frame
        lat_now, lon_now = self.latlon()
        du = alt_amsl_m - self.home_alt_amsl
        target_ll = None if self.target is None else (
            *old.to_latlon(self.target[0], self.target[1]), self.target[2])
        rtl_ll = old.to_latlon(*self.rtl_dest)
        self.frame = LocalFrame(lat_deg, lon_deg)
        self.home_lat, self.home_lon, self.home_alt_amsl = lat_deg, lon_deg, alt_amsl_m
        self.n, self.e = self.frame.to_ne(lat_now, lon_now)
        self.u -= du
        if target_ll is not None:
            self.target = (*self.frame.to_ne(target_ll[0], target_ll[1]), target_ll[2] - du)
        self.rtl_dest = self.frame.to_ne(*rtl_ll)
        self.rebuild_fence()
        if lock:
            self.home_locked = True
        self.set_home_here()

    def item_location(self, it: Item) -> tuple[float, float, float]:
        """(north, east, up-relative-to-home) of a mission item; lat/lon 0 = current position."""
        if it.x == 0 and it.y == 0:
            n, e = self.n, self.e
        else:
            n, e = self.frame.to_ne(it.lat_deg, it.lon_deg)
        if it.frame in (0, 5):  # GLOBAL / GLOBAL_INT: AMSL
            u = it.z - self.home_alt_amsl
        else:
            u = it.z
        return n, e, u

    # ------------------------------------------------------------------ modes
    def set_mode(self, mode: int, *, reason: str = "gcs") -> bool:
        """Change flight mode as ArduCopter's mode init() does; False = refused."""
        if mode not in SUPPORTED_MODES:
            return False
        if mode == self.mode:
            return True  # Copter::set_mode: already in that mode, nothing is re-initialised
        if mode in POSITION_MODES and not self.ready:
            return False
        if mode == AUTO:
            if self.armed and self.landed and not self._starts_with_takeoff():
                self.text(SEV_CRITICAL, "Auto: Missing Takeoff Cmd")
                return False
        if mode == SMART_RTL:
            mode = RTL
        self.mode = mode
        self.speed_override = self.climb_override = self.descent_override = None
        self.vel_target = None
        self.landing = False
        self.paused = False
        if mode == AUTO:
            if not self.landed:
                self.auto_armed = True
                self._mission_resume()
        elif mode == GUIDED:
            self.target = (self.n, self.e, self.u) if not self.landed else None
        elif mode == RTL:
            self._rtl_start()
        elif mode == LAND:
            self.target = (self.n, self.e, 0.0)
            self.landing = True
        else:
            self.target = (self.n, self.e, self.u) if not self.landed else None
        self.corner_speed = 0.0
        return True

    def arm(self, force: bool) -> tuple[bool, str | None]:
        """Returns (ok, failure text)."""
        if self.armed:
            return True, None
        if not force:
            if not self.ready:
                return False, "PreArm: Need Position Estimate"
            allowed = {STABILIZE, ALT_HOLD, GUIDED, LOITER, POSHOLD}
            if self.mode == AUTO and int(self.params["AUTO_OPTIONS"]) & 1:
                allowed.add(AUTO)
            if self.mode not in allowed:
                return False, "Arm: Mode not armable"
            if self.params["FENCE_ENABLE"] and self.fence_breached_at(self.n, self.e, self.u):
                return False, "PreArm: Fence: vehicle outside fence"
            if self.batt_crit or self.batt_low:
                return False, "PreArm: Battery 1 below minimum arming"
        self.armed = True
        self.landed = True
        self.landed_since = self.now
        self.auto_armed = False
        self.text(SEV_INFO, "Arming motors")
        if self.home_set and not self.home_locked:
            # AP_Arming_Copter::arm: home moves to where the vehicle arms unless a GCS set it
            lat, lon = self.latlon()
            self.set_home(lat, lon, self.home_alt_amsl + self.u, lock=False)
        if self.mode == AUTO:
            self.mission_seq = 0
            self.mission_complete = False
        return True, None

    def disarm(self, reason: str = "") -> None:
        if not self.armed:
            return
        self.armed = False
        self.auto_armed = False
        self.target = None
        self.vel_target = None
        self.landing = False
        self.text(SEV_INFO, "Disarming motors")

    def takeoff(self, alt_m: float) -> bool:
        """GUIDED user takeoff: only armed, landed and with a position estimate."""
        if self.mode != GUIDED or not self.armed or not self.landed or not self.ready:
            return False
        if alt_m <= 0:
            alt_m = max(self.params["PILOT_TKO_ALT_M"], 1.0)
        self.landed = False
        self.landed_since = None
        self.auto_armed = True
        self.target = (self.n, self.e, alt_m)
        return True

    def guided_goto(self, n: float, e: float, u: float) -> bool:
        if self.mode != GUIDED:
            return False
        self.vel_target = None
        if self.landed:
            return True  # accepted, but Copter does not take off on a position target
        self.target = (n, e, u)
        self.corner_speed = 0.0
        return True

    def guided_velocity(self, vn: float, ve: float, vu: float) -> bool:
        if self.mode != GUIDED:
            return False
        if self.landed:
            return True
        self.vel_target = (vn, ve, vu)
        self.vel_target_until = self.now + 3.0
        return True

    # ------------------------------------------------------------------ RTL
    def rtl_destination(self) -> tuple[float, float]:
        """(north, east) RTL flies to: AP_Rally::calc_best_rally_or_home_location.

        The nearest rally point (inside the fence when one is enabled) wins unless it is
        more than RALLY_LIMIT_KM away and home is nearer, or RALLY_INCL_HOME is set and home
        is nearer; with no usable rally point it is home.
        """
        def dist(p: tuple[float, float]) -> float:
            return math.hypot(p[0] - self.n, p[1] - self.e)

        rally = [self.frame.to_ne(it.lat_deg, it.lon_deg) for it in self.missions[2]
                 if it.command == mc.NAV_RALLY_POINT]
        if self.params["FENCE_ENABLE"]:  # AP_Rally_Copter::is_valid: inside the fence
            rally = [p for p in rally if not self.fence_breached_at(p[0], p[1], 0.0) & 6]
        if not rally:
            return (0.0, 0.0)
        best = min(rally, key=dist)
        limit_m = self.params["RALLY_LIMIT_KM"] * 1000.0
        home_d = math.hypot(self.n, self.e)
        if limit_m > 0 and dist(best) > limit_m and home_d < dist(best):
            return (0.0, 0.0)
        if self.params["RALLY_INCL_HOME"] and home_d <= dist(best):
            return (0.0, 0.0)
        return best

    def _rtl_start(self) -> None:
        self.rtl_dest = self.rtl_destination()
        self.rtl_phase = "climb"
        self.landing = False
        rtl_alt = max(self.params["RTL_ALT_M"], self.u + self.params["RTL_CLIMB_MIN_M"])
        self.target = (self.n, self.e, max(self.u, rtl_alt))
        self.corner_speed = 0.0
        if self.landed:
            self.rtl_phase = "done"
            self.target = None

    def _rtl_update(self, reached: bool) -> bool:
        """Advance the RTL state machine; True when landed."""
        if self.rtl_phase == "climb" and reached:
            self.rtl_phase = "return"
            self.target = (self.rtl_dest[0], self.rtl_dest[1], self.target[2] if self.target
                           else self.u)
        elif self.rtl_phase == "return" and reached:
            self.rtl_phase = "loiter"
            self.nav_hold_until = self.now + self.params["RTL_LOIT_TIME"] / 1000.0
        elif self.rtl_phase == "loiter" and self.nav_hold_until is not None \
                and self.now >= self.nav_hold_until:
            final = self.params["RTL_ALT_FINAL_M"]
            self.rtl_phase = "land" if final <= 0 else "final"
            self.target = (self.rtl_dest[0], self.rtl_dest[1], max(final, 0.0))
            self.landing = final <= 0
        return self.landed and self.rtl_phase == "land"

    # ------------------------------------------------------------------ mission execution
    def _nav_items_from(self, start: int) -> Item | None:
        items = self.missions[0]
        for it in items[start:]:
            if it.command in NAV_CMDS:
                return it
        return None

    def _starts_with_takeoff(self) -> bool:
        first = self._nav_items_from(1)
        return first is not None and first.command == mc.NAV_TAKEOFF

    def mission_start(self) -> bool:
        """MAV_CMD_MISSION_START: set AUTO, auto-armed, start or resume."""
        if not self.set_mode(AUTO):
            return False
        self.auto_armed = True
        if self.landed:
            self.mission_seq = 0
            self.mission_complete = False
        self._mission_resume()
        return True

    def _mission_resume(self) -> None:
        if not self.armed or len(self.missions[0]) <= 1:
            return
        if self.mission_seq <= 0 or self.mission_complete:
            self.jump_counts.clear()
            self.mission_complete = False
            self._advance_to(1)
        else:
            self._advance_to(self.mission_seq)

    def _advance_to(self, seq: int) -> None:
        items = self.missions[0]
        guard = 0
        while True:
            guard += 1
            if guard > 10000:
                self._mission_end()
                return
            if seq >= len(items):
                self._mission_end()
                return
            it = items[seq]
            if it.command in NAV_CMDS:
                self._start_nav(it)
                return
            if it.command == mc.DO_JUMP:
                target = int(it.param1)
                repeats = int(it.param2)
                done = self.jump_counts.get(seq, 0)
                if 0 < target < len(items) and (repeats < 0 or done < repeats):
                    self.jump_counts[seq] = done + 1
                    seq = target
                    continue
                seq += 1
                continue
            self.text(SEV_INFO, f"Mission: {seq} {_cmd_name(it.command)}")
            self.do_command(it.command, it.param1, it.param2, it.param3, it.param4,
                            trigger="mission", mission_seq=seq)
            seq += 1

    def _start_nav(self, it: Item) -> None:
        self.mission_seq = it.seq
        self.events.append(("mission_current",))
        self.text(SEV_INFO, f"Mission: {it.seq} {_cmd_name(it.command)}")
        self.nav_hold_until = None
        self.landing = False
        self.corner_speed = 0.0
        cmd = it.command
        if cmd == mc.NAV_TAKEOFF:
            self.nav_phase = "takeoff"
            alt = self.item_location(it)[2] if it.frame not in (0, 5) else it.z - \
                self.home_alt_amsl
            self.landed = False
            self.landed_since = None
            self.target = (self.n, self.e, max(alt, self.u))
        elif cmd in (mc.NAV_WAYPOINT, mc.NAV_LOITER_TIME, NAV_LOITER_UNLIM):
            self.nav_phase = "goto"
            self.target = self.item_location(it)
            if cmd == mc.NAV_WAYPOINT and it.param1 <= 0:
                self.corner_speed = self._corner_speed(it)
        elif cmd == mc.NAV_LAND:
            self.nav_phase = "land_goto"
            n, e, _u = self.item_location(it)
            self.target = (n, e, self.u)
        elif cmd == mc.NAV_RETURN_TO_LAUNCH:
            self.nav_phase = "rtl"
            self._rtl_start()
        elif cmd == NAV_DELAY:
            self.nav_phase = "delay"
            self.target = (self.n, self.e, self.u)
            self.nav_hold_until = self.now + max(it.param1, 0.0)
        else:  # unsupported nav commands complete immediately after a hold in place
            self.nav_phase = "goto"
            self.target = self.item_location(it)

    def _corner_speed(self, it: Item) -> float:
        nxt = self._nav_items_from(it.seq + 1)
        if nxt is None or nxt.command != mc.NAV_WAYPOINT:
            return 0.0
        a = self.item_location(it)
        b = self.item_location(nxt)
        leg1 = (a[0] - self.n, a[1] - self.e)
        leg2 = (b[0] - a[0], b[1] - a[1])
        l1 = math.hypot(*leg1)
        l2 = math.hypot(*leg2)
        if l1 < 1e-3 or l2 < 1e-3:
            return 0.0
        cos_t = (leg1[0] * leg2[0] + leg1[1] * leg2[1]) / (l1 * l2)
        return self.wp_speed() * max(0.0, (1.0 + cos_t) / 2.0)

    def _nav_update(self, reached: bool) -> None:
        if not self.mission_seq or self.mission_seq >= len(self.missions[0]):
            return
        it = self.missions[0][self.mission_seq]
        done = False
        if self.nav_phase == "takeoff":
            done = self.target is not None and self.u >= self.target[2] - 0.5
        elif self.nav_phase == "goto":
            if reached:
                if it.command == NAV_LOITER_UNLIM:
                    return
                hold = it.param1 if it.command in (mc.NAV_WAYPOINT, mc.NAV_LOITER_TIME) else 0.0
                if self.nav_hold_until is None:
                    self.nav_hold_until = self.now + max(hold, 0.0)
                done = self.now >= self.nav_hold_until
        elif self.nav_phase == "delay":
            done = self.nav_hold_until is not None and self.now >= self.nav_hold_until
        elif self.nav_phase == "land_goto":
            if reached:
                self.nav_phase = "land"
                self.target = (self.n, self.e, 0.0)
                self.landing = True
        elif self.nav_phase == "land":
            done = self.landed
        elif self.nav_phase == "rtl":
            done = self._rtl_update(reached)
        if done:
            self.events.append(("reached", it.seq))
            self.text(SEV_INFO, f"Reached command #{it.seq}")
            self._advance_to(it.seq + 1)

    def _mission_end(self) -> None:
        self.mission_complete = True
        self.nav_phase = "hold"
        if self.landed:
            self.disarm("mission exit")
        else:
            self.target = (self.n, self.e, self.u)
            self.corner_speed = 0.0

    def pause_mission(self) -> bool:
        """DO_PAUSE_CONTINUE(0): ModeAuto::pause, only while flying a mission and not paused."""
        if self.mode != AUTO or not self.armed or self.landed or self.paused \
                or self.mission_complete:
            return False
        self.paused = True
        return True

    def resume_mission(self) -> bool:
        """DO_PAUSE_CONTINUE(1): ModeAuto::resume, only when paused before."""
        if self.mode != AUTO or not self.paused:
            return False
        self.paused = False
        self.corner_speed = 0.0
        return True

    def set_mission_current(self, seq: int, reset_jumps: bool = False) -> bool:
        items = self.missions[0]
        if reset_jumps:
            self.jump_counts.clear()
        if seq == -1:
            self.events.append(("mission_current",))
            return True
        if seq < 0 or seq >= max(len(items), 1) or (len(items) <= 1 and seq != 0):
            return False
        self.mission_seq = max(seq, 1)
        self.mission_complete = False
        if self.mode == AUTO and self.armed and not self.landed:
            self._advance_to(self.mission_seq)
        else:
            self.events.append(("mission_current",))
        return True

    # ------------------------------------------------------------------ DO commands / payload
    def do_command(self, cmd: int, p1: float, p2: float, p3: float, p4: float, *,
                   trigger: str, mission_seq: int | None = None) -> int:
        """Run a DO command (from a mission or a COMMAND_LONG); returns a MAV_RESULT."""
        if cmd == mc.DO_CHANGE_SPEED:
            if p2 <= 0:
                return 2
            kind = int(p1)
            if kind in (0, 1):
                self.speed_override = min(p2, 50.0)
            elif kind == 2:
                self.climb_override = p2
            elif kind == 3:
                self.descent_override = p2
            return 0
        if cmd == mc.DO_SET_RELAY:
            self.relays[int(p1)] = int(p2)
            return 0
        if cmd == mc.DO_SET_SERVO:
            self.servos[int(p1)] = int(p2)
            return 0
        if cmd == mc.DO_SEND_SCRIPT_MESSAGE:
            self.speaker_trigger(int(p1), p2, int(p3), p4, trigger=trigger,
                                 mission_seq=mission_seq)
            return 0
        return 0  # other DO commands are accepted and ignored

    def speaker_trigger(self, message_id: int, volume_pct: float, repeat: int,
                        play_duration_s: float, *, trigger: str,
                        mission_seq: int | None = None) -> None:
        """Start (message_id > 0) or stop (0) a broadcast; a new trigger replaces the old one."""
        if self.speaker is not None:
            self._speaker_end("replaced" if message_id > 0 else "stopped")
        if message_id <= 0:
            return
        dur = play_duration_s if play_duration_s > 0 else DEFAULT_PLAY_S
        self.speaker = SpeakerState(message_id=message_id, volume_pct=float(volume_pct),
                                    repeat=max(repeat, 0), play_duration_s=dur,
                                    start_s=self.now, next_sample_s=self.now + 1.0)
        rec = {"event": "start", "vehicle": self.index, "message_id": message_id,
               "volume_pct": float(volume_pct), "repeat": max(repeat, 0),
               "play_duration_s": dur, "trigger": trigger, "mission_seq": mission_seq}
        rec.update(self._pos_record())
        self.speaker_log.write(rec)

    def _pos_record(self) -> dict[str, float]:
        lat, lon = self.latlon()
        return {"sim_time_s": round(self.now, 3), "lat_deg": round(lat, 8),
                "lon_deg": round(lon, 8), "alt_m": round(self.u, 3),
                "alt_amsl_m": round(self.u + self.home_alt_amsl, 3)}

    def _speaker_end(self, reason: str) -> None:
        sp = self.speaker
        if sp is None:
            return
        rec: dict[str, Any] = {"event": "end", "message_id": sp.message_id,
                               "start_sim_time_s": round(sp.start_s, 3), "reason": reason}
        rec.update(self._pos_record())
        self.speaker_log.write(rec)
        self.speaker = None

    def _speaker_update(self) -> None:
        sp = self.speaker
        if sp is None:
            return
        if sp.repeat > 0 and self.now >= sp.start_s + sp.repeat * sp.play_duration_s - 1e-9:
            self._speaker_end("completed")
            return
        if self.now >= sp.next_sample_s - 1e-9:
            rec: dict[str, Any] = {"event": "position", "message_id": sp.message_id}
            rec.update(self._pos_record())
            self.speaker_log.write(rec)
            sp.next_sample_s += 1.0

    def close(self) -> None:
        self._speaker_end("shutdown")
        self.speaker_log.close()

    # ------------------------------------------------------------------ fence
    def fence_breached_at(self, n: float, e: float, u: float) -> int:
        """Bitmask of breached fences: 1 alt max, 2 circle, 4 polygon, 8 alt min."""
        p = self.params
        ftype = int(p["FENCE_TYPE"])
        out = 0
        if ftype & 1 and u > p["FENCE_ALT_MAX"]:
            out |= 1
        if ftype & 2 and math.hypot(n, e) > p["FENCE_RADIUS"]:
            out |= 2
        if ftype & 4:
            f = self.fence
            incl = f.inclusion_polys or f.inclusion_circles
            if incl:
                inside_any = any(point_in_polygon((n, e), poly) for poly in f.inclusion_polys) \
                    or any(math.hypot(n - cn, e - ce) <= r for cn, ce, r in f.inclusion_circles)
                if not inside_any:
                    out |= 4
            if any(point_in_polygon((n, e), poly) for poly in f.exclusion_polys) or \
                    any(math.hypot(n - cn, e - ce) < r for cn, ce, r in f.exclusion_circles):
                out |= 4
        return out

    def rebuild_fence(self) -> None:
        f = FenceShapes()
        items = self.missions[1]
        i = 0
        while i < len(items):
            it = items[i]
            if it.command in (mc.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                              mc.NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
                count = int(it.param1)
                poly = [self.frame.to_ne(v.lat_deg, v.lon_deg) for v in items[i:i + count]]
                (f.inclusion_polys if it.command == mc.NAV_FENCE_POLYGON_VERTEX_INCLUSION
                 else f.exclusion_polys).append(poly)
                i += max(count, 1)
                continue
            if it.command in (mc.NAV_FENCE_CIRCLE_INCLUSION, mc.NAV_FENCE_CIRCLE_EXCLUSION):
                n, e = self.frame.to_ne(it.lat_deg, it.lon_deg)
                (f.inclusion_circles if it.command == mc.NAV_FENCE_CIRCLE_INCLUSION
                 else f.exclusion_circles).append((n, e, it.param1))
            i += 1
        self.fence = f

    # ------------------------------------------------------------------ failsafe actions
    def _failsafe_action(self, action: int, *, battery: bool = False) -> None:
        """Apply a failsafe action (BATT_FS_*_ACT / FS_GCS_ENABLE / FENCE_ACTION semantics)."""
        if not self.armed:
            return
        if self.landed:
            self.disarm("failsafe")
            return
        if battery:
            mode = {1: LAND, 2: RTL, 3: RTL, 4: LAND, 6: RTL}.get(action)
            if action == 5:
                self.disarm("terminate")
                return
        else:
            mode = {1: RTL, 3: RTL, 4: LAND, 5: LAND, 6: RTL, 7: LAND}.get(action)
        if mode is None or self.mode in (mode, LAND):
            return
        if not self.set_mode(mode, reason="failsafe"):
            self.set_mode(LAND, reason="failsafe")

    def _check_failsafes(self) -> None:
        p = self.params
        # battery
        cap = p["BATT_CAPACITY"]
        remaining_mah = cap - self.consumed_mah
        rest_v = self._resting_voltage()
        timer = p["BATT_LOW_TIMER"]
        crit = False
        if p["BATT_CRT_MAH"] > 0 and remaining_mah < p["BATT_CRT_MAH"]:
            crit = True
        if p["BATT_CRT_VOLT"] > 0 and rest_v < p["BATT_CRT_VOLT"]:
            if self.crit_volt_since is None:
                self.crit_volt_since = self.now
            crit = crit or self.now - self.crit_volt_since >= timer
        else:
            self.crit_volt_since = None
        low = crit
        if p["BATT_LOW_MAH"] > 0 and remaining_mah < p["BATT_LOW_MAH"]:
            low = True
        if p["BATT_LOW_VOLT"] > 0 and rest_v < p["BATT_LOW_VOLT"]:
            if self.low_volt_since is None:
                self.low_volt_since = self.now
            low = low or self.now - self.low_volt_since >= timer
        else:
            self.low_volt_since = None
        if crit and not self.batt_crit:
            self.batt_crit = self.batt_low = True
            self.text(SEV_CRITICAL, f"Battery 1 is critical {self.voltage_v:.2f}V used "
                                    f"{self.consumed_mah:.0f} mAh")
            self._failsafe_action(int(p["BATT_FS_CRT_ACT"]), battery=True)
        elif low and not self.batt_low:
            self.batt_low = True
            self.text(SEV_CRITICAL, f"Battery 1 is low {self.voltage_v:.2f}V used "
                                    f"{self.consumed_mah:.0f} mAh")
            self._failsafe_action(int(p["BATT_FS_LOW_ACT"]), battery=True)
        # GCS heartbeat loss
        if p["FS_GCS_ENABLE"] and self.gcs_last_hb is not None and self.armed:
            lost = self.now - self.gcs_last_hb > p["FS_GCS_TIMEOUT"]
            if lost and not self.gcs_fs:
                self.gcs_fs = True
                self.text(SEV_CRITICAL, "GCS Failsafe")
                self._failsafe_action(int(p["FS_GCS_ENABLE"]))
            elif not lost and self.gcs_fs:
                self.gcs_fs = False
                self.text(SEV_CRITICAL, "GCS Failsafe Cleared")
        elif self.gcs_fs and (not p["FS_GCS_ENABLE"] or not self.armed):
            self.gcs_fs = False
        # fence
        if p["FENCE_ENABLE"] and self.armed and not self.landed:
            breach = self.fence_breached_at(self.n, self.e, self.u)
            new = breach & ~self.fence_breaches
            self.fence_breaches = breach
            if new:
                self.fence_breach_count += 1
                self.fence_breach_time = self.now
                self.text(SEV_CRITICAL, "Fence Breached")
                action = int(p["FENCE_ACTION"])
                if action:
                    if action == 2:
                        self.set_mode(LAND, reason="fence")
                    elif action == 4:
                        if self.mode not in (RTL, LAND):
                            self.set_mode(BRAKE, reason="fence")
                    elif self.mode not in (RTL, LAND):
                        self.set_mode(RTL, reason="fence") or self.set_mode(LAND, reason="fence")
        else:
            self.fence_breaches = 0

    def _resting_voltage(self) -> float:
        cap = max(self.params["BATT_CAPACITY"], 1.0)
        frac = max(0.0, 1.0 - self.consumed_mah / cap)
        cell = 3.3 + 0.9 * frac - 0.15 * (1.0 - frac) ** 4
        return 4.0 * cell

    # ------------------------------------------------------------------ physics step
    def step(self, dt: float) -> None:
        """Advance this vehicle by ``dt`` simulated seconds."""
        self.now += dt
        p = self.params
        if not self.ready and self.now >= self.ready_delay_s:
            self.ready = True
            self.text(SEV_INFO, "EKF3 IMU0 is using GPS")
            self.set_home_here()
        # wind gusts: Ornstein-Uhlenbeck per axis, seeded
        turb = p["SIM_WIND_TURB"]
        if turb > 0:
            tau = 4.0
            k = turb * math.sqrt(2.0 * dt / tau)
            self.gust_n += -self.gust_n / tau * dt + k * self.rng.gauss(0.0, 1.0)
            self.gust_e += -self.gust_e / tau * dt + k * self.rng.gauss(0.0, 1.0)
        if self.armed and not self.landed:
            self._fly(dt)
        else:
            self.vn = self.ve = self.vu = 0.0
            self.an = self.ae = 0.0
        self._battery(dt)
        # auto-disarm after DISARM_DELAY on the ground
        if self.armed and self.landed:
            if self.landed_since is None:
                self.landed_since = self.now
            delay = p["DISARM_DELAY"]
            if delay > 0 and self.now - self.landed_since >= delay and not (
                    self.mode == AUTO and self.nav_phase == "takeoff"):
                self.disarm("auto")
        if self.armed or self.gcs_fs or self.batt_low or self.fence_breaches:
            self._check_failsafes()
        if self.speaker is not None:
            self._speaker_update()

    def _fly(self, dt: float) -> None:
        p = self.params
        acc = max(p["WP_ACC"], 0.5)
        reached = False
        # velocity setpoint (guided) with a 3 s timeout
        if self.vel_target is not None:
            if self.now > self.vel_target_until:
                self.vel_target = None
                self.target = (self.n, self.e, self.u)
            else:
                dvn, dve, dvu = self.vel_target
                self._accel_to(dvn, dve, acc, dt)
                self.vu = dvu
        if self.vel_target is None:
            tgt = self.target if self.target is not None else (self.n, self.e, self.u)
            if self.paused:
                tgt = (self.n, self.e, self.u)
            dn = tgt[0] - self.n
            de = tgt[1] - self.e
            dist = math.hypot(dn, de)
            speed = self.wp_speed()
            if self.mode == RTL and p["RTL_SPEED_MS"] > 0:
                speed = p["RTL_SPEED_MS"]
            if dist > 1e-3:
                vdes = min(speed, math.sqrt(self.corner_speed ** 2 + 2.0 * acc * dist))
                if dist < 0.05:
                    vdes = 0.0
                self._accel_to(dn / dist * vdes, de / dist * vdes, acc, dt)
            else:
                self._accel_to(0.0, 0.0, acc, dt)
            # vertical
            du = tgt[2] - self.u
            up = self.climb_override or p["WP_SPD_UP"]
            down = self.descent_override or p["WP_SPD_DN"]
            if self.landing:
                land_low = p["LAND_SPD_MS"]
                high = p["LAND_SPD_HIGH_MS"] or down
                down = land_low if self.u - self.ground_u <= p["LAND_ALT_LOW_M"] else high
                vu_des = -down
            else:
                vu_des = math.copysign(min(abs(du) * 1.0, math.sqrt(2.0 * 2.5 * abs(du))), du)
                vu_des = max(-down, min(up, vu_des))
            dvu = vu_des - self.vu
            lim = 2.5 * dt
            self.vu += max(-lim, min(lim, dvu))
            d3 = math.sqrt(dist * dist + du * du)
            reached = d3 <= max(p["WP_RADIUS_M"], 0.3) or (
                self.corner_speed > 0 and dist <= max(p["WP_RADIUS_M"], 0.3) and abs(du) < 2.0)
        # integrate with unrejected gust disturbance
        self.n += (self.vn + 0.05 * self.gust_n) * dt
        self.e += (self.ve + 0.05 * self.gust_e) * dt
        self.u += self.vu * dt
        if self.vn * self.vn + self.ve * self.ve > 1.0 and p["WP_YAW_BEHAVIOR"] != 0:
            self.yaw_deg = math.degrees(math.atan2(self.ve, self.vn)) % 360.0
        ground_u = self.ground_u
        if self.u <= ground_u and self.vu <= 0.0:
            self.u = ground_u
            self.vn = self.ve = self.vu = 0.0
            if not self.landed:
                self.landed = True
                self.landed_since = self.now
                self._on_landed()
            return
        if self.mode == AUTO and self.auto_armed and not self.paused:
            self._nav_update(reached)
        elif self.mode == RTL:
            self._rtl_update(reached)

    def _on_landed(self) -> None:
        if self.mode == AUTO:
            self._nav_update(True)
            if self.armed and self.landing:
                self.disarm("landed")
        elif self.mode in (LAND, RTL) or self.landing:
            self.disarm("landed")

    def _accel_to(self, vn: float, ve: float, acc: float, dt: float) -> None:
        dvn = vn - self.vn
        dve = ve - self.ve
        mag = math.hypot(dvn, dve)
        lim = acc * dt
        if mag > lim:
            dvn *= lim / mag
            dve *= lim / mag
        self.an = dvn / dt
        self.ae = dve / dt
        self.vn += dvn
        self.ve += dve

    def _battery(self, dt: float) -> None:
        p = self.params
        if self.armed:
            wind_spd = p["SIM_WIND_SPD"]
            wdir = math.radians(p["SIM_WIND_DIR"])
            # wind blows FROM SIM_WIND_DIR
            wn = -wind_spd * math.cos(wdir) + self.gust_n
            we = -wind_spd * math.sin(wdir) + self.gust_e
            air2 = (self.vn - wn) ** 2 + (self.ve - we) ** 2
            hover = p["SIM_BATT_HOVER_A"] if not self.landed else 0.3 * p["SIM_BATT_HOVER_A"]
            climb = max(self.vu, 0.0)
            current = hover * (1.0 + 0.0015 * air2 + 0.12 * climb)
        else:
            current = 0.4
        self.current_a = current
        self.consumed_mah += current * dt / 3.6
        self.voltage_v = self._resting_voltage() - current * 0.015

    def reset_battery(self, pct: float) -> None:
        """MAV_CMD_BATTERY_RESET: remaining charge to ``pct`` %, battery failsafes cleared."""
        cap = self.params["BATT_CAPACITY"]
        pct = max(0.0, min(100.0, pct))
        self.consumed_mah = cap * (1.0 - pct / 100.0)
        self.batt_low = self.batt_crit = False
        self.low_volt_since = self.crit_volt_since = None
        self.voltage_v = self._resting_voltage()

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot, for the control channel (tests, determinism checks)."""
        lat, lon = self.latlon()
        return {"vehicle": self.index, "sim_time_s": round(self.now, 6), "lat_deg": lat,
                "lon_deg": lon, "alt_m": self.u, "north_m": self.n, "east_m": self.e,
                "vn": self.vn, "ve": self.ve, "vu": self.vu, "mode": self.mode,
                "armed": self.armed, "landed": self.landed, "ready": self.ready,
                "mission_seq": self.mission_seq, "battery_pct": self.battery_remaining_pct(),
                "consumed_mah": self.consumed_mah, "voltage_v": self.voltage_v,
                "relays": self.relays, "servos": self.servos,
                "failsafe": self.failsafe_active, "fence_breaches": self.fence_breaches}


_CMD_NAMES = {16: "WP", 17: "LoitUnlim", 19: "LoitTime", 20: "RTL", 21: "Land", 22: "Takeoff",
              93: "Delay", 177: "Jump", 178: "ChangeSpeed", 181: "SetRelay", 183: "SetServo",
              217: "ScriptMessage"}


def _cmd_name(cmd: int) -> str:
    return _CMD_NAMES.get(cmd, str(cmd))
