"""One error tree for the whole library.

Every error a user can provoke with bad input or a vehicle's refusal is a
:class:`DronePatrolError`; its message names the place (file, feature index and
name, vehicle, zone) and what to do about it.
"""

from __future__ import annotations


class DronePatrolError(Exception):
    """Root of every error raised by dronepatrol."""


class ZoneFileError(DronePatrolError):
    """A zones file (GeoJSON or KML) cannot be read or has an invalid feature."""


class FrameError(DronePatrolError):
    """The operating area cannot be served by one local metric frame."""


class PlanningError(DronePatrolError):
    """A plan cannot be made with the given parameters."""


class AcousticsError(DronePatrolError):
    """A speaker, message or broadcast cannot meet the hearing guarantee."""


class AudioError(DronePatrolError):
    """Spoken audio cannot be rendered or an audio file cannot be read."""


class MissionError(DronePatrolError):
    """A mission, fence or rally set cannot be built, written or read."""


class SafetyError(DronePatrolError):
    """A pre-flight check failed: altitude, no-fly crossing, battery or home."""


class LinkError(DronePatrolError):
    """A MAVLink operation failed; carries what the vehicle answered, if anything."""


class SimError(DronePatrolError):
    """The built-in simulator could not start or stopped unexpectedly."""


class ReportError(DronePatrolError):
    """A flight log cannot be read or does not fit the plan."""


class DronePatrolWarning(UserWarning):
    """Something was repaired or assumed; the message says what changed."""
