"""One way for every benchmark to hold a figure against its target and say ``meets`` or ``MISSES``.

Why a helper: a benchmark that prints its target beside the figure leaves the comparison to the
reader, and a figure that misses then reads like a pass. ``check`` prints one line a reader (or a
grep for ``MISSES``) cannot misread, and returns whether the target was met so a script can also
end with a non-zero status when asked (``exit_status``).

    from benchmarks.targets import check, exit_status
    ok = check("verify + tag vs urlsplit, unique URLs", ratio, at_least=0.70, unit="x")
    ...
    return exit_status([ok], strict=args.strict)
"""

from __future__ import annotations

from collections.abc import Iterable

MEETS, MISSES = "meets", "MISSES"


def verdict(value: float, at_least: float | None = None, at_most: float | None = None) -> str:
    """``meets`` when ``value`` is within the bound(s) given, else ``MISSES``; NaN always misses."""
    if at_least is None and at_most is None:
        raise ValueError("give a target: at_least and/or at_most")
    ok = value == value  # NaN is no figure
    if at_least is not None:
        ok = ok and value >= at_least
    if at_most is not None:
        ok = ok and value <= at_most
    return MEETS if ok else MISSES


def check(
    label: str,
    value: float,
    at_least: float | None = None,
    at_most: float | None = None,
    unit: str = "",
    precision: int = 2,
) -> bool:
    """Print ``<label>: <value><unit> (target >= x): meets|MISSES``; return whether it meets."""
    result = verdict(value, at_least, at_most)
    bounds = []
    if at_least is not None:
        bounds.append(f">= {at_least:.{precision}f}{unit}")
    if at_most is not None:
        bounds.append(f"<= {at_most:.{precision}f}{unit}")
    print(f"{label}: {value:.{precision}f}{unit} (target {' and '.join(bounds)}): {result}", flush=True)
    return result == MEETS


def exit_status(results: Iterable[bool], strict: bool = False) -> int:
    """0, or 1 when ``strict`` and any target was missed (benchmarks report; CI may choose to fail)."""
    return 1 if strict and not all(results) else 0
