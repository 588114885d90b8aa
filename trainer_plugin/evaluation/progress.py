"""A tiny progress interface, so scoring code reports progress without depending on rich."""

from __future__ import annotations


class ProgressHook:
    """Told the total once, then how much was done after each batch; the default does nothing."""

    def start(self, total: int, description: str = "") -> None:
        """Called once with the number of forward-pass rows about to run."""

    def advance(self, amount: int) -> None:
        """Called after each batch with the number of rows it held."""


SILENT = ProgressHook()
