"""``python -m dronepatrol.sim``: run the simulator."""

import sys

from dronepatrol.sim.cli import main

if __name__ == "__main__":
    sys.exit(main())
