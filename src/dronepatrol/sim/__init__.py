"""A built-in ArduCopter-compatible MAVLink simulator: several copters, one process, fast.

Start it with ``python -m dronepatrol.sim --vehicles N --home LAT,LON,ALT_M,HDG`` or from Python
with :class:`SimFleet` (a subprocess). Connection details, vehicle i (0-based):

- MAVLink TCP ``tcp:127.0.0.1:<base_port + 10*i>`` (base 5760 like SITL), several ground
  stations at once; MAVLink UDP: the sim binds ``127.0.0.1:<udp_base_port + 10*i>`` (14550
  with the default base, else base_port + 5) and answers every peer that sends to it
  (connect with pymavlink ``udpout:``).
- system id ``i + 1``; autopilot component 1; the loudspeaker companion is component 25
  (MAV_COMP_ID_USER1) and answers COMMAND_LONG/COMMAND_INT ``MAV_CMD_USER_1`` (31010) with
  the same parameters as DO_SEND_SCRIPT_MESSAGE (217): p1 message id (0 = stop), p2 volume %,
  p3 repeat count (0 = loop until the next trigger), p4 length of one play in s (0 = 10 s).
- control channel (JSON lines) on ``127.0.0.1:<base_port + 9>``: ``advance``, ``time``,
  ``state``, ``stop``.

Like ArduCopter, telemetry streams default to 0 Hz: request them with REQUEST_DATA_STREAM or
SET_MESSAGE_INTERVAL (or start with ``--stream-rate``). Rates are in simulated time, but no
message goes to one client faster than 50 Hz of wall time.
"""

from dronepatrol.sim.fleet import SimFleet, free_port_block
from dronepatrol.sim.speakerlog import SpeakerBroadcast, SpeakerSample, read_speaker_log

__all__ = ["SimFleet", "SpeakerBroadcast", "SpeakerSample", "free_port_block",
           "read_speaker_log", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the simulator (what ``dronepatrol sim`` calls)."""
    from dronepatrol.sim.cli import main as _main

    return _main(argv)
