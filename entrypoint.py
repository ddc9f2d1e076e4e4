#!/usr/bin/env python3
"""Container entrypoint: run faas-action with the runner's environment and exit with its code."""

import os
import sys
from pathlib import Path

# The image runs this file by absolute path; make the package importable from beside it without
# putting the workspace (the user's code) on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faas_action.main import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run(os.environ, sys.stdout))
