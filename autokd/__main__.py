"""`python -m autokd` runs the same command line as the `autokd` script."""

import sys

from autokd.cli import main

sys.exit(main())
