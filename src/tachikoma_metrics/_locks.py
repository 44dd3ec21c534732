"""The library's locks, made safe across ``os.fork()``.

A forked child has one thread, yet it inherits every lock in the state the parent's
threads left it: a lock held by another thread at the fork (a family creating a label set,
the registry adding a family) is held forever in the child, and the child's next call that
needs it hangs. Every lock the library takes is made by ``new_lock()``, which remembers it
(weakly); once ``install()`` has run, a child reinitialises all of them right after the
fork, as the standard library does for its own locks. The fork hook is installed when the
first registry or family is made, never at import.
"""

from __future__ import annotations

import os
import threading
import weakref

_locks: weakref.WeakSet[threading.Lock] = weakref.WeakSet()
_installed = False


def new_lock() -> threading.Lock:
    """A ``threading.Lock`` that a forked child finds released."""
    lock = threading.Lock()
    _locks.add(lock)
    return lock


def install() -> None:
    """Reinitialise every library lock in a forked child from now on (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
        os.register_at_fork(after_in_child=_reinit_in_child)


def _reinit_in_child() -> None:
    # Only this thread exists now: nothing else can hold or take these locks meanwhile.
    for lock in list(_locks):
        lock._at_fork_reinit()  # type: ignore[attr-defined]
