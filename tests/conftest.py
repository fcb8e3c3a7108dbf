"""Test configuration: make tests/common.py importable and MAVLink 2 the process default."""

import os
import sys
from pathlib import Path

# pymavlink reads MAVLINK20 once, at import: set it before any test module imports pymavlink,
# exactly as dronepatrol.link does for its own process.
os.environ.setdefault("MAVLINK20", "1")
sys.path.insert(0, str(Path(__file__).parent))
