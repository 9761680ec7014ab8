"""The training entry point ``accelerate launch`` runs: ``accelerate launch harness/run.py [options] [key=value ...]``
from a checkout, or ``accelerate launch -m harness.run ...`` from any folder (:mod:`harness.commands.train`)."""

import sys

from harness.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
