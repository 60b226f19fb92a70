"""SIGINT and SIGTERM for a process that runs swarm: a clean exit 130 at any moment.

The CLI calls :func:`install` first thing: from then on either signal raises
``KeyboardInterrupt`` (the CLI turns it into exit 130, no traceback), during imports too, where
SIGTERM used to kill the process (-15). While a run is driven, its driver holds both signals
itself (the first cancels the run, later ones are ignored while the run's end is written) and,
once its writer has finished, calls :func:`after_run`: Python's asyncio resets the handlers to
the defaults when a signal receiver closes, which would let a second signal kill the process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

TYPE_CHECKING = False  # as typing's: the CLI's first import stays this small
if TYPE_CHECKING:
    from types import FrameType
    from typing import NoReturn

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_installed = False
_raised = False


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


def interrupted() -> bool:
    """Whether :func:`install`'s handlers have raised ``KeyboardInterrupt`` in this process
    (then any exception that follows, a library's failed import included, is its aftermath)."""
    return _raised


def exit_with(code: int) -> NoReturn:
    """End the process with ``code``.

    After a ``KeyboardInterrupt`` from :func:`install`'s handlers this is ``os._exit`` (after
    flushing the standard streams): CPython 3.11 marks a ``KeyboardInterrupt`` that leaves a
    string run by ``exec`` (dataclasses and namedtuples make their methods that way, so this
    happens during imports) as unhandled for good, and at exit kills the process with SIGINT
    (-2) whatever ``sys.exit`` said. Otherwise ``sys.exit``.
    """
    if _raised:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    sys.exit(code)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    global _raised
    _raised = True
    raise KeyboardInterrupt(signal.Signals(signum).name)
