"""`python -m bridge.sandbox`: run the Gameball emulator in the foreground."""

import sys

from bridge.sandbox.emulator.cli import main

sys.exit(main())
