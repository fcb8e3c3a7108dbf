"""Fly planned patrols on MAVLink vehicles (ArduCopter: SITL, real drones, the simulator).

pymavlink is imported lazily, in MAVLink 2 with the ardupilotmega dialect, the first time a
connection opens (:mod:`dronepatrol.link._codec`); importing this package has no side effects.

Main entry points: :meth:`Vehicle.connect`, :func:`preflight_check`,
:func:`recommended_failsafe_params`, :class:`LossyRelay` (tests), :class:`TlogWriter`.
"""

from dronepatrol.link.failsafe import FailsafeParam, recommended_failsafe_params
from dronepatrol.link.params import aliases, convert
from dronepatrol.link.preflight import (
    MAX_FENCE_ITEMS,
    MAX_MISSION_ITEMS,
    MAX_RALLY_ITEMS,
    RouteEstimate,
    check_capacity,
    preflight_check,
)
from dronepatrol.link.progress import EVENTS, Progress
from dronepatrol.link.relay import LossyRelay, RelayStats
from dronepatrol.link.tlog import TlogWriter
from dronepatrol.link.vehicle import Vehicle

__all__ = [
    "EVENTS",
    "MAX_FENCE_ITEMS",
    "MAX_MISSION_ITEMS",
    "MAX_RALLY_ITEMS",
    "FailsafeParam",
    "LossyRelay",
    "Progress",
    "RelayStats",
    "RouteEstimate",
    "TlogWriter",
    "Vehicle",
    "aliases",
    "check_capacity",
    "convert",
    "preflight_check",
    "recommended_failsafe_params",
]
