"""The only module that imports pymavlink (lazily, on first use).

pymavlink chooses MAVLink 1/2 and the dialect once per process. ArduPilot needs MAVLink 2
for fence and rally transfers, so ``MAVLINK20=1`` is set (unless the caller already chose)
right before pymavlink is first imported, and the ``ardupilotmega`` dialect is used.
Nothing happens at import time of this module.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from dronepatrol.errors import LinkError
from dronepatrol.mission import MissionItem

_lock = threading.Lock()
_mavutil: Any = None

# MAV_RESULT (COMMAND_ACK.result)
RESULT_NAMES = {
    0: "ACCEPTED", 1: "TEMPORARILY_REJECTED", 2: "DENIED", 3: "UNSUPPORTED", 4: "FAILED",
    5: "IN_PROGRESS", 6: "CANCELLED", 7: "COMMAND_LONG_ONLY", 8: "COMMAND_INT_ONLY",
    9: "COMMAND_UNSUPPORTED_MAV_FRAME",
}
# MAV_MISSION_RESULT (MISSION_ACK.type)
MISSION_RESULT_NAMES = {
    0: "ACCEPTED", 1: "ERROR", 2: "UNSUPPORTED_FRAME", 3: "UNSUPPORTED", 4: "NO_SPACE",
    5: "INVALID", 6: "INVALID_PARAM1", 7: "INVALID_PARAM2", 8: "INVALID_PARAM3",
    9: "INVALID_PARAM4", 10: "INVALID_PARAM5_X", 11: "INVALID_PARAM6_Y", 12: "INVALID_PARAM7",
    13: "INVALID_SEQUENCE", 14: "DENIED", 15: "OPERATION_CANCELLED",
}
MISSION_TYPE_NAMES = {0: "mission", 1: "fence", 2: "rally"}

# ArduCopter flight modes (ArduCopter/mode.h, enum class Number)
COPTER_MODES = {
    "STABILIZE": 0, "ACRO": 1, "ALT_HOLD": 2, "AUTO": 3, "GUIDED": 4, "LOITER": 5, "RTL": 6,
    "CIRCLE": 7, "LAND": 9, "DRIFT": 11, "SPORT": 13, "FLIP": 14, "AUTOTUNE": 15, "POSHOLD": 16,
    "BRAKE": 17, "THROW": 18, "AVOID_ADSB": 19, "GUIDED_NOGPS": 20, "SMART_RTL": 21,
    "FLOWHOLD": 22, "FOLLOW": 23, "ZIGZAG": 24, "SYSTEMID": 25, "AUTOROTATE": 26,
    "AUTO_RTL": 27, "TURTLE": 28,
}
COPTER_MODE_NAMES = {number: name for name, number in COPTER_MODES.items()}

MAV_TYPE_GCS = 6
MAV_AUTOPILOT_INVALID = 8
MAV_STATE_CRITICAL = 5
MAV_STATE_EMERGENCY = 6
MAV_MODE_FLAG_SAFETY_ARMED = 128
MAV_MODE_FLAG_CUSTOM_MODE_ENABLED = 1
MAV_FRAME_GLOBAL_RELATIVE_ALT_INT = 6
MISSION_STATE_ACTIVE = 3
MISSION_STATE_PAUSED = 4
MISSION_STATE_COMPLETE = 5

# Message ids used for SET_MESSAGE_INTERVAL
MSG_SYS_STATUS = 1
MSG_GPS_RAW_INT = 24
MSG_GLOBAL_POSITION_INT = 33
MSG_MISSION_CURRENT = 42
MSG_VFR_HUD = 74
MSG_BATTERY_STATUS = 147
MSG_FENCE_STATUS = 162
MSG_HOME_POSITION = 242
MSG_EXTENDED_SYS_STATE = 245

# MAV_CMD numbers used by the client
CMD_NAV_WAYPOINT = 16
CMD_NAV_TAKEOFF = 22
CMD_DO_SET_MODE = 176
CMD_DO_CHANGE_SPEED = 178
CMD_DO_REPOSITION = 192
CMD_DO_PAUSE_CONTINUE = 193
CMD_DO_SET_MISSION_CURRENT = 224
CMD_MISSION_START = 300
CMD_COMPONENT_ARM_DISARM = 400
CMD_GET_HOME_POSITION = 410
CMD_SET_MESSAGE_INTERVAL = 511
CMD_REQUEST_MESSAGE = 512
CMD_BATTERY_RESET = 42651
ARM_FORCE_MAGIC = 21196


def mavutil() -> Any:
    """Return pymavlink's ``mavutil``, importing it in MAVLink 2 with the ardupilotmega dialect."""
    global _mavutil
    with _lock:
        if _mavutil is None:
            os.environ.setdefault("MAVLINK20", "1")
            try:
                from pymavlink import mavutil as mu
            except ImportError as exc:  # pragma: no cover - pymavlink is a hard dependency
                raise LinkError(
                    "pymavlink is not installed; install it with `pip install pymavlink`"
                ) from exc
            mu.set_dialect("ardupilotmega")
            _mavutil = mu
        return _mavutil


def mavlink() -> Any:
    """Return the active pymavlink dialect module (ardupilotmega)."""
    return mavutil().mavlink


def open_connection(url: str, *, source_system: int, source_component: int,
                    baud: int = 57600) -> Any:
    """Open a pymavlink connection; serial devices accept ``/dev/ttyUSB0,57600``."""
    mu = mavutil()
    device = url
    if "," in url and not url.startswith(("tcp:", "udp", "tcpin:")):
        device, baud_text = url.rsplit(",", 1)
        try:
            baud = int(baud_text)
        except ValueError as exc:
            raise LinkError(
                f"connection string {url!r}: baud {baud_text!r} is not a number; "
                "write e.g. /dev/ttyUSB0,57600"
            ) from exc
    try:
        return mu.mavlink_connection(
            device, baud=baud, source_system=source_system, source_component=source_component,
            retries=0, dialect="ardupilotmega",
        )
    except (OSError, ValueError) as exc:
        raise LinkError(
            f"cannot open MAVLink connection {url!r}: {exc}. Use tcp:HOST:PORT, "
            "udpin:HOST:PORT, udpout:HOST:PORT or a serial device such as /dev/ttyUSB0,57600"
        ) from exc


def result_name(result: int) -> str:
    """Name of a MAV_RESULT value."""
    return RESULT_NAMES.get(result, f"RESULT_{result}")


def mission_result_name(result: int) -> str:
    """Name of a MAV_MISSION_RESULT value."""
    return MISSION_RESULT_NAMES.get(result, f"MISSION_RESULT_{result}")


def item_to_wire(item: MissionItem) -> tuple[int, int, int]:
    """(x, y, z-ignored) integer lat/lon as sent in MISSION_ITEM_INT."""
    return int(round(item.lat_deg * 1e7)), int(round(item.lon_deg * 1e7)), 0


def item_from_msg(msg: Any, mission_type: int) -> MissionItem:
    """MissionItem from a MISSION_ITEM_INT (or float MISSION_ITEM) message."""
    if msg.get_type() == "MISSION_ITEM_INT":
        lat, lon = msg.x / 1e7, msg.y / 1e7
    else:
        lat, lon = float(msg.x), float(msg.y)
    return MissionItem(
        command=int(msg.command), frame=int(msg.frame), param1=float(msg.param1),
        param2=float(msg.param2), param3=float(msg.param3), param4=float(msg.param4),
        lat_deg=lat, lon_deg=lon, alt_m=float(msg.z), autocontinue=bool(msg.autocontinue),
        mission_type=mission_type,
    )


def _f32(value: float) -> float:
    import struct

    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def wire_equal(a: MissionItem, b: MissionItem) -> bool:
    """True when two items are the same after MISSION_ITEM_INT quantisation."""
    return (
        a.command == b.command and a.frame == b.frame and a.autocontinue == b.autocontinue
        and all(_f32(x) == _f32(y) for x, y in ((a.param1, b.param1), (a.param2, b.param2),
                                                 (a.param3, b.param3), (a.param4, b.param4),
                                                 (a.alt_m, b.alt_m)))
        and item_to_wire(a)[:2] == item_to_wire(b)[:2]
    )
