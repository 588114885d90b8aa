"""A "no network" guard: proof that curation and training never reach out, usable in tests and scripts.

Why an audit hook and not a monkeypatch: ``sys.addaudithook`` sees every socket connect and name
lookup made through CPython's socket module, including ones from C extensions that captured
``socket.socket`` before a patch could replace it. Audit hooks cannot be removed, so one hook is
installed per process and only acts while a ``NetGuard`` is active. Unix-domain sockets (used by
multiprocessing and forkserver) are local and allowed. The hook covers this process only; worker
processes started by an executor are not guarded.
"""

from __future__ import annotations

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


_active: list["NetGuard"] = []
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
    guard.attempts.append(Attempt(event, target))
    raise NetworkBlockedError(f"network access blocked by geocorpus.netguard: {event} {target}")


class NetGuard:
    """Context manager: while active, every network attempt in this process is recorded and refused.

    >>> with NetGuard() as guard:
    ...     run_something()
    >>> assert guard.attempts == []
    """

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []

    def __enter__(self) -> "NetGuard":
        global _installed
        with _lock:
            if not _installed:
                sys.addaudithook(_hook)
                _installed = True
            _active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        with _lock:
            _active.remove(self)
