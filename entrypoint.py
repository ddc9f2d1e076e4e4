#!/usr/bin/env python3
"""Container entrypoint: run faas-action with the runner's environment and exit with its code.

Two process-level settings make a short run shorter (a no-op AWS redeploy against moto went from
~0.32 s to ~0.24 s in interleaved runs; bench/deploy_bench.py has the figures against the script):
- the cyclic garbage collector runs rarely (`GC_THRESHOLDS`): start-up builds hundreds of thousands
  of objects (botocore's models, the SDK modules) and the default thresholds sweep them again and
  again while they are still in use. Memory stays bounded: it still collects, only less often.
- the process ends with `os._exit` once everything is written: the interpreter's own teardown
  (freeing every module and model object one by one) costs ~50 ms and nothing needs it. `run`
  has closed every file it wrote, joined its threads and removed its temporary files by then;
  the standard streams are flushed here.
"""

import gc

GC_THRESHOLDS = (100_000, 50, 50)  # default (700, 10, 10)
gc.set_threshold(*GC_THRESHOLDS)

import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

# The image runs this file by absolute path; make the package importable from beside it without
# putting the workspace (the user's code) on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faas_action.main import run  # noqa: E402


def main() -> None:
    code = run(os.environ, sys.stdout)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
