"""`python -m dspex_lab ...`: see dspex_lab.cli."""

import sys

from dspex_lab.cli import main

sys.exit(main())
