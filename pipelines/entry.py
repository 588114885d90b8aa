"""The ``geocorpus`` console script: a launcher that imports the CLI only when it runs.

multiprocessing's forkserver imports the ``__main__`` script of the process that starts it, and every
curation stage starts one for its pool. With ``pipelines.cli`` as the script's import, each stage paid
for the whole CLI (torch, transformers and matplotlib through ``geocorpus eval``): about 3.5 s, up to
7 s on a loaded machine, before its first worker started. The script now imports this module only.
"""

from __future__ import annotations


def main() -> None:
    """Run the ``geocorpus`` command (``pipelines.cli.main``)."""
    from pipelines.cli import main as cli_main

    cli_main()
