"""Send a workflow script's output (progress bars, warnings, tracebacks) to its Snakemake log."""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def to_log(path: str | Path) -> Iterator[None]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as f, contextlib.redirect_stdout(f):
        old_err, sys.stderr = sys.stderr, f
        try:
            yield
        except BaseException:
            traceback.print_exc(file=f)
            raise
        finally:
            sys.stderr = old_err
