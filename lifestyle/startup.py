"""A cold start without the garbage collector's busywork.

Starting the app (Django, DRF, botocore's service models, our modules) and
serving its first request allocate a few hundred thousand objects that live
as long as the process. With CPython's default thresholds the cycle
collector runs some 250 times on the way, each time walking objects that
can only survive. So from the settings module on the collector waits
(:func:`hold_collector`), and when the first request has been answered
(:func:`release_collector`, on Django's ``request_finished``) everything
alive is moved out of its sight with ``gc.freeze()`` and the usual
thresholds come back: later collections are both as frequent as before and
cheaper, since they skip the frozen start-up objects.

A process that serves no request (a management command, a container woken
only by Zappa's scheduled events) keeps the start-up threshold: the
collector still runs, every 100,000 net allocations instead of 700, which
bounds the garbage of a batch job all the same.

Measured by ``bench/cold_start.py``; see the README's performance section.
"""

from __future__ import annotations

import gc
from typing import Any

# Generation 0 collects after this many net allocations while starting.
STARTUP_THRESHOLD = 100_000
_usual: tuple[int, int, int] | None = None


def hold_collector() -> None:
    """Make the collector rare until :func:`release_collector` (once per process)."""
    global _usual
    if _usual is None:
        _usual = gc.get_threshold()
        gc.set_threshold(STARTUP_THRESHOLD, *_usual[1:])


def release_collector(**_: Any) -> None:
    """Freeze what start-up made and restore the usual thresholds."""
    global _usual
    if _usual is not None:
        gc.freeze()
        gc.set_threshold(*_usual)
        _usual = None
