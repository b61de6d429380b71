"""Run one blocking call (sign-in, starting the demo server) off the GUI thread.

Anki-style: ``run_in_background(parent, work, on_done, on_error)`` runs ``work()`` in a
thread of its own and calls ``on_done(result)`` or ``on_error(exc)`` back in the GUI
thread. Calls are kept in a module-level registry (not Qt children: a QObject that deletes
itself from its own slot while Python still holds it can be freed twice) until their
results are delivered; :func:`wait_for_background` waits for every call still running for
an owner, so closing a window never leaves a thread behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

log = logging.getLogger(__name__)

# Every call from start until its results were delivered, with its owner.
_RUNNING: dict[BackgroundCall, QObject] = {}


class _Call(QObject):
    sig_done = Signal(object)
    sig_failed = Signal(object)

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__()
        self._work = work

    @Slot()
    def run(self) -> None:
        try:
            result = self._work()
        except Exception as exc:  # handed to the GUI thread, which decides what to show
            log.info("background call failed: %s", exc, exc_info=True)
            self.sig_failed.emit(exc)
        else:
            self.sig_done.emit(result)


class BackgroundCall(QObject):
    """One call running in its own QThread; results come back through queued signals."""

    sig_done = Signal(object)
    sig_failed = Signal(object)

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__()
        self._thread = QThread(self)
        self._thread.setObjectName("outpost-background")
        self._call = _Call(work)
        self._call.moveToThread(self._thread)
        self._thread.started.connect(self._call.run)
        # Results are re-emitted from this object (GUI thread) once the thread has ended.
        self._call.sig_done.connect(self._finish_ok)
        self._call.sig_failed.connect(self._finish_error)

    def start(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, msecs: int = 30_000) -> bool:
        """Wait for the call to end (at most ``msecs``)."""
        self._thread.quit()
        return self._thread.wait(msecs)

    @Slot(object)
    def _finish_ok(self, result: object) -> None:
        self._thread.quit()
        self._thread.wait()
        self.sig_done.emit(result)
        self._forget()

    @Slot(object)
    def _finish_error(self, exc: object) -> None:
        self._thread.quit()
        self._thread.wait()
        self.sig_failed.emit(exc)
        self._forget()

    def _forget(self) -> None:
        # Dropped on the next turn of the event loop, not inside its own slot.
        QTimer.singleShot(0, lambda: _RUNNING.pop(self, None))


def run_in_background(
    parent: QObject,
    work: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[BaseException], None],
) -> BackgroundCall:
    """Run ``work()`` in a thread; call ``on_done(result)`` or ``on_error(exc)`` in the GUI
    thread afterwards."""
    call = BackgroundCall(work)
    _RUNNING[call] = parent
    call.sig_done.connect(on_done)
    call.sig_failed.connect(on_error)
    call.start()
    return call


def wait_for_background(parent: QObject, msecs: int = 30_000) -> None:
    """Wait for every background call parented to ``parent`` (at shutdown)."""
    for call, owner in list(_RUNNING.items()):
        if owner is parent and call.is_running() and not call.wait(msecs):
            log.warning("a background call did not end within %d ms", msecs)
