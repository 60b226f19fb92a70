"""SIGINT and SIGTERM for a process that runs swarm: a clean exit 130 at any moment.

The CLI calls :func:`install` first thing: from then on either signal raises
``KeyboardInterrupt`` (the CLI turns it into exit 130, no traceback), during imports too, where
SIGTERM used to kill the process (-15). While a run is driven, its driver holds both signals
itself (the first cancels the run, later ones are ignored while the run's end is written) and,
once its writer has finished, calls :func:`after_run`: Python's asyncio resets the handlers to
the defaults when a signal receiver closes, which would let a second signal kill the process.
"""

from __future__ import annotations

import signal
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_installed = False


def install() -> None:
    """Make SIGINT and SIGTERM raise ``KeyboardInterrupt`` (main thread only)."""
    global _installed
    for sig in SIGNALS:
        signal.signal(sig, _interrupt)
    _installed = True


def after_run(*, interrupted: bool) -> None:
    """Put the process's handlers back after a driver's receiver closed: if the run was
    interrupted, further signals are ignored (the process is already on its way to exit 130);
    otherwise they raise ``KeyboardInterrupt`` again. Nothing if :func:`install` was not called
    (a library user keeps their own handlers)."""
    if not _installed:
        return
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN if interrupted else _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)
