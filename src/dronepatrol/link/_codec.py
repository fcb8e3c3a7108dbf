"""The only module that imports pymavlink (lazily, on first use).

pymavlink chooses MAVLink 1/2 and the dialect once per process. ArduPilot needs MAVLink 2
for fence and rally transfers, so ``MAVLINK20=1`` is set (unless the caller already chose)
right before pymavlink is first imported, and the ``ardupilotmega`` dialect is used.
Nothing happens at import time of this module.
"""

from __future__ import annotations

import os
import re
import socket
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


URL_FORMS = ("tcp:HOST:PORT (ArduPilot SITL, `dronepatrol sim`, a TCP telemetry bridge), "
             "udpin:HOST:PORT (listen, e.g. udpin:0.0.0.0:14550), udpout:HOST:PORT (send to), "
             "udp:HOST:PORT (same as udpin), or a serial device with an optional baud rate "
             "such as /dev/ttyUSB0,57600")
_NET_KINDS = ("tcp", "tcpin", "udp", "udpin", "udpout", "udpbcast")
_SERIAL_RE = re.compile(r"^(/.+|COM\d+|\\\\\.\\.+)$", re.IGNORECASE)


def parse_url(url: str, baud: int = 57600) -> tuple[str, str, int | None, int]:
    """Check a connection string; return (kind, host or device, port or None, baud).

    ``kind`` is one of tcp, tcpin, udp, udpin, udpout, udpbcast or ``serial``. Raises
    :class:`LinkError` naming what does not fit and the accepted forms.

    >>> parse_url("tcp:127.0.0.1:5760")
    ('tcp', '127.0.0.1', 5760, 57600)
    >>> parse_url("/dev/ttyUSB0,921600")
    ('serial', '/dev/ttyUSB0', None, 921600)
    """
    if not isinstance(url, str) or not url.strip():
        raise LinkError(f"connection string {url!r} is empty; use {URL_FORMS}")
    url = url.strip()
    kind, sep, rest = url.partition(":")
    if sep and kind.lower() in _NET_KINDS:
        kind = kind.lower()
        host, sep2, port_text = rest.rpartition(":")
        if not sep2 or not host or ":" in host:
            raise LinkError(
                f"connection string {url!r}: expected {kind}:HOST:PORT "
                f"(e.g. {kind}:127.0.0.1:{5760 if kind.startswith('tcp') else 14550})")
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise LinkError(
                f"connection string {url!r}: port {port_text!r} is not a number from 1 to "
                f"65535; write {kind}:HOST:PORT (e.g. {kind}:{host}:"
                f"{5760 if kind.startswith('tcp') else 14550})")
        return kind, host, int(port_text), baud
    device, comma, baud_text = url.partition(",")
    if comma:
        if not baud_text.strip().isdigit() or int(baud_text) <= 0:
            raise LinkError(
                f"connection string {url!r}: baud {baud_text!r} is not a positive whole "
                "number; write e.g. /dev/ttyUSB0,57600")
        baud = int(baud_text)
    if _SERIAL_RE.match(device):
        return "serial", device, None, baud
    what = f"unknown kind {kind!r}" if sep else "not a network address or a serial device"
    raise LinkError(f"connection string {url!r}: {what}; use {URL_FORMS}")


def _close_orphans(exc: BaseException) -> None:
    """Close the socket of a pymavlink connection whose constructor raised (pymavlink opens
    the socket before binding, and never closes it on failure)."""
    tb = exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        port = getattr(owner, "port", None)
        if isinstance(port, socket.socket):
            port.close()
        tb = tb.tb_next


def _explain(kind: str, host: str, port: int | None, exc: BaseException) -> str:
    where = f"{host}:{port}"
    if isinstance(exc, ConnectionRefusedError):
        return (f"{where} refused the TCP connection: is ArduPilot SITL / the vehicle / "
                "`dronepatrol sim` running and listening on that port?")
    if isinstance(exc, socket.gaierror):
        return f"host {host!r} is not known (check the spelling, or use an IP address)"
    if isinstance(exc, TimeoutError):
        return f"{where} did not answer (timed out): check the address and the network"
    errno_ = getattr(exc, "errno", None)
    if kind in ("udp", "udpin", "tcpin") and errno_ == 98:  # EADDRINUSE
        return (f"cannot listen on {where}: the port is in use (by MAVProxy, a ground "
                "station or another dronepatrol?); close it or use another port")
    if kind in ("udp", "udpin", "tcpin") and errno_ == 99:  # EADDRNOTAVAIL
        return (f"cannot listen on {where}: {host} is not an address of this machine; "
                "use 0.0.0.0 to listen on all of them")
    if kind == "serial":
        return (f"cannot open serial device {host}: {exc}. Check the device name, that it is "
                "plugged in and that you may use it (e.g. the dialout group)")
    return f"{exc}"


def open_connection(url: str, *, source_system: int, source_component: int,
                    baud: int = 57600) -> Any:
    """Open a pymavlink connection; serial devices accept ``/dev/ttyUSB0,57600``.

    The connection string is checked first (:func:`parse_url`); a failed open leaves no
    socket behind and says what to check.
    """
    kind, host, port, baud = parse_url(url, baud)
    device = host if kind == "serial" else f"{kind}:{host}:{port}"
    mu = mavutil()
    try:
        return mu.mavlink_connection(
            device, baud=baud, source_system=source_system, source_component=source_component,
            retries=0, dialect="ardupilotmega",
        )
    except (OSError, ValueError) as exc:
        _close_orphans(exc)
        raise LinkError(
            f"cannot open MAVLink connection {url!r}: {_explain(kind, host, port, exc)}"
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
