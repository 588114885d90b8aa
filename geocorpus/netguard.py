"""A "no network" guard: proof that curation and training never reach out, usable in tests and scripts.

Why an audit hook and not a monkeypatch: ``sys.addaudithook`` sees every socket connect and name
lookup made through CPython's socket module, including ones from C extensions that captured
``socket.socket`` before a patch could replace it. Audit hooks cannot be removed, so one hook is
installed per process and only acts while a ``NetGuard`` is active. Unix-domain sockets (used by
multiprocessing and forkserver) are local and allowed. The hook covers this process only; worker
processes started by an executor are guarded when every interpreter enters one at start-up, e.g.
from a ``sitecustomize`` module on ``PYTHONPATH`` that calls :func:`guard_this_process`; give such
guards a ``log_file`` so attempts in any process land in one place.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from dataclasses import dataclass

#: Audit events that mean "talk to another machine": name resolution and outgoing connections.
NETWORK_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.sendto",
        "socket.sendmsg",
    }
)


class NetworkBlockedError(ConnectionError):
    """Raised inside the code that tried to reach the network while a NetGuard was active."""


@dataclass(frozen=True)
class Attempt:
    """One blocked attempt: the audit event and what it was aimed at."""

    event: str
    target: str


_active: list[NetGuard] = []
_lock = threading.Lock()
_installed = False


def _target(event: str, args: tuple) -> tuple[str, bool]:
    """(description, is_local_unix_socket) of an audit event's arguments."""
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[-1]
        family = getattr(sock, "family", None)
        return repr(address), family == getattr(socket, "AF_UNIX", object())
    return repr(args[:2]), False


def _hook(event: str, args: tuple) -> None:
    if event not in NETWORK_EVENTS or not _active:
        return
    target, local = _target(event, args)
    if local:
        return
    guard = _active[-1]
    attempt = Attempt(event, target)
    guard.attempts.append(attempt)
    if guard.log_file is not None:
        line = json.dumps({"pid": os.getpid(), "event": attempt.event, "target": attempt.target})
        with open(guard.log_file, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    raise NetworkBlockedError(f"network access blocked by geocorpus.netguard: {event} {target}")


class NetGuard:
    """Context manager: while active, every network attempt in this process is recorded and refused.

    >>> with NetGuard() as guard:
    ...     run_something()
    >>> assert guard.attempts == []
    """

    def __init__(self, log_file: str | os.PathLike | None = None) -> None:
        self.attempts: list[Attempt] = []
        #: where each attempt is also appended as a JSON line (pid, event, target); None = memory only
        self.log_file = os.fspath(log_file) if log_file is not None else None

    def __enter__(self) -> NetGuard:
        global _installed
        with _lock:
            if not _installed:
                sys.addaudithook(_hook)
                _installed = True
            _active.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with _lock:
            _active.remove(self)


def guard_this_process(log_file: str | os.PathLike | None = None) -> NetGuard:
    """Guard the rest of this process's life (for ``sitecustomize``); forked children inherit it."""
    return NetGuard(log_file).__enter__()
