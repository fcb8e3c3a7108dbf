"""Example 5: your own broadcast (text and language, or your own WAV) and the acoustic
trade-off table: altitude vs intelligible radius vs lane spacing vs speed vs flight time.

    python examples/custom_broadcast.py --text "Please go home now." --language en
    python examples/custom_broadcast.py --wav my_message.wav --speaker-db 110
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dronepatrol.acoustics import Atmosphere, Speaker
from dronepatrol.broadcast import (
    acoustic_spacing,
    messages_for_zones,
    render_messages,
    tradeoff_table,
)
from dronepatrol.zones import ZoneSet, read_zones

HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zone", default="建安花园", help="zone of the example city to broadcast to")
    ap.add_argument("--text", default="请您和家人立即返回家中", help="message text")
    ap.add_argument("--language", default="cmn", help="espeak-ng language (cmn, en, yue, ...)")
    ap.add_argument("--wav", type=Path, help="play this WAV recording instead of speaking")
    ap.add_argument("--speaker-db", type=float, default=115.0, help="speaker level at 1 m")
    ap.add_argument("--speed-mps", type=float, default=8.0)
    ap.add_argument("--out", type=Path, default=Path("out/custom_broadcast"))
    args = ap.parse_args()

    city = read_zones(HERE / "xuchang" / "zones.geojson")
    zone = city.zone(args.zone)
    props = dict(zone.properties, message=args.text, message_language=args.language)
    if args.wav:
        props["message_audio"] = str(args.wav)
    zones = ZoneSet.from_shapely([{**props, "geometry": zone.geometry}],
                                 bases=[(b.name, b.lon_deg, b.lat_deg) for b in city.bases])

    messages = render_messages(messages_for_zones(zones), args.out)  # measured durations
    m = messages[args.zone]
    print(f"message {m.id}: {m.duration_s:.2f} s of audio in {m.audio_path}")
    acoustics = acoustic_spacing(zones, messages, Speaker(level_at_1m_db=args.speaker_db),
                                 Atmosphere(), speed_mps=args.speed_mps, min_altitude_m=30,
                                 max_altitude_m=120)
    print(tradeoff_table(acoustics[args.zone], max_rows=15))


if __name__ == "__main__":
    main()
