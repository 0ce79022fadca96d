"""A Ctrl-C that is never lost.

Python raises ``KeyboardInterrupt`` wherever the main thread is when SIGINT arrives. When that is inside a
weakref callback or a ``__del__`` (a progress bar closing, a tensor freed), the exception is printed
("Exception ignored in ...") and dropped, and a long training goes on as if nothing was pressed. The command
line runs each command under :func:`catching`, whose handler also records the signal; the training loop calls
:func:`check` at every step, which raises the interrupt that was dropped.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

_pending = False


def _record_and_raise(signum, frame):
    global _pending
    _pending = True
    raise KeyboardInterrupt


@contextmanager
def catching():
    """Record every SIGINT during the block (it still raises ``KeyboardInterrupt`` at once). Leaves the
    handler alone outside the main thread, and where SIGINT is ignored (a job started with ``nohup`` or
    ``&``): such a process is not meant to stop on Ctrl-C."""
    global _pending
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) in (
            signal.SIG_IGN, None):
        yield
        return
    previous = signal.signal(signal.SIGINT, _record_and_raise)
    _pending = False
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _pending = False


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a SIGINT arrived under :func:`catching` and has not been raised through
    here yet (once per signal)."""
    global _pending
    if _pending:
        _pending = False
        raise KeyboardInterrupt
