"""The ``geocorpus`` console script: a launcher that imports the CLI only when it runs.

multiprocessing's forkserver imports the ``__main__`` script of the process that starts it, and every
curation stage starts one for its pool. With ``pipelines.cli`` as the script's import, each stage paid
for the whole CLI (torch, transformers and matplotlib through ``geocorpus eval``): about 3.5 s, up to
7 s on a loaded machine, before its first worker started. The script now imports this module only.
"""

from __future__ import annotations

import os

#: polars' allocator (jemalloc) keeps freed pages for 0.5-1 s (polars' own defaults); finalize_select's sorts
#: and joins run back to back, so the process held every step's scratch at once. Returning them at once cut its peak
#: from ~510 to ~320 bytes per document (1M rows, same code). Read when polars loads, so set before any
#: import of it (the stage processes inherit it); a value the user set is kept.
POLARS_ALLOCATOR = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")


def main() -> None:
    """Run the ``geocorpus`` command (``pipelines.cli.main``)."""
    os.environ.setdefault(*POLARS_ALLOCATOR)
    from pipelines.cli import main as cli_main

    cli_main()
