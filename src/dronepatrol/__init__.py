"""dronepatrol: plan, broadcast and fly drone patrols over containment zones.

Units are in names (``altitude_m``, ``speed_mps``, ``duration_s``). GeoJSON and
the public planning API use (lon, lat) order; MAVLink uses (lat, lon); the
conversion happens in one place (:mod:`dronepatrol.mission`). Planning happens
in a local metric frame (:mod:`dronepatrol.geo`); WGS84 is only at the edges.

Importing the package has no side effects.
"""

from dronepatrol.errors import (
    AcousticsError,
    AudioError,
    DronePatrolError,
    DronePatrolWarning,
    FrameError,
    LinkError,
    MissionError,
    PlanningError,
    ReportError,
    SafetyError,
    SimError,
    ZoneFileError,
)

__version__ = "0.1.0"

__all__ = [
    "AcousticsError",
    "AudioError",
    "DronePatrolError",
    "DronePatrolWarning",
    "FrameError",
    "LinkError",
    "MissionError",
    "PlanningError",
    "ReportError",
    "SafetyError",
    "SimError",
    "ZoneFileError",
    "__version__",
]
