"""``python -m harness.evaluate RUN_DIR|CHECKPOINT [overrides]``: re-score without retraining."""

import sys

from harness.evaluate.rescore import main

sys.exit(main())
