"""Which locations are remote (fsspec URLs) and whether this install can reach them, checked offline.

Why: ``output: s3://bucket/out`` used to pass ``validate`` and then make a local folder named ``s3:``,
and an ``hf://`` input made ``validate`` contact the Hub and print a long traceback. Whether a scheme is
known and its fsspec implementation importable is decidable without network or credentials; reaching
the bucket is left to the run.
"""

from __future__ import annotations

import fsspec
from fsspec.core import split_protocol
from fsspec.registry import known_implementations

LOCAL_PROTOCOLS = (None, "file", "local")


class RemotePathError(ValueError):
    """A location whose scheme is unknown, or whose fsspec implementation is not installed."""


def protocol_of(path: str) -> str | None:
    """``s3`` for ``s3://bucket/x``; None for a local path."""
    return split_protocol(str(path))[0]


def is_remote(path: str) -> bool:
    return protocol_of(path) not in LOCAL_PROTOCOLS


def check_location(path: str, what: str) -> None:
    """Raise RemotePathError unless ``path`` is local or its fsspec implementation imports (no network)."""
    protocol = protocol_of(path)
    if protocol in LOCAL_PROTOCOLS:
        return
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        known = ", ".join(sorted(p for p in known_implementations if len(p) <= 6)[:30])
        raise RemotePathError(f"{what}: unknown scheme {protocol}:// in {path!r}; fsspec knows: {known}") from None
    except ImportError as exc:
        hint = known_implementations.get(protocol or "", {}).get("err") or str(exc)
        raise RemotePathError(
            f"{what}: {path!r} needs an fsspec implementation that is not installed: {hint}"
        ) from None
