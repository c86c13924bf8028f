"""`python -m autokd` runs the same command line as the `autokd` script."""

import sys

from autokd.cli import main

if __name__ == "__main__":  # not again in processes that multiprocessing starts by importing it
    sys.exit(main())
