"""How a stage ends when it fails: one clear message for the user, the whole traceback in a log file.

Every stage's `__main__.py` runs its `main()` through `run_stage`. A user who gives a bad file or parameter reads
the sentence that names the file, column or parameter and the problem, not the last line of a long traceback;
the traceback is appended to `.churnlab/logs/<stage>.log` at the repository root (git-ignored) for whoever
debugs it. `CHURNLAB_TRACEBACK=1` prints the traceback as well.
"""

import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from churnlab.core import paths

LOGS = Path(".churnlab/logs")


def log_file(stage: str) -> Path:
    """Where the traceback of a failed `stage` goes: .churnlab/logs/<stage>.log under the repository root."""
    return paths.repository_root() / LOGS / f"{stage}.log"


def run_stage(main: Callable[[], None], stage: str) -> None:
    """Run `main()`; on an exception, print one message (no traceback), keep the traceback in the log, exit 1."""
    try:
        main()
    except KeyboardInterrupt:
        print(f"churnlab {stage}: interrupted; the previous outputs are kept", file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # every failure: the user sees one message, the log keeps the details
        target = log_file(stage)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} churnlab {stage} failed\n{traceback.format_exc()}\n")
        logging.shutdown()
        if os.environ.get("CHURNLAB_TRACEBACK"):
            traceback.print_exc()
        kind = "" if isinstance(err, ValueError | KeyError | FileNotFoundError) else f"{type(err).__name__}: "
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"churnlab {stage}: error: {kind}{message}\n(traceback: {target.relative_to(paths.repository_root())})",
              file=sys.stderr)
        sys.exit(1)
