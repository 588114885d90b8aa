"""``ReadInputs``: the readers of every input of a config as one step, read one input after another.

Why one step: datatrove readers chain (each passes the documents of the readers before it through), so
N inputs as N steps nest N generators (2N with their input counters) and a config with ~500 inputs
ended in RecursionError. Here each input's own short chain (reader, counter, extraction) runs to its end
before the next starts, so depth no longer grows with the number of inputs. The inner steps' statistics
are added to this step's, so ``stats.json`` still counts every document read.
"""

from __future__ import annotations

from collections.abc import Sequence

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep


class ReadInputs(PipelineStep):
    """Run each chain of steps (one per input: its reader first) to its end, one chain after another."""

    name = "📚 Read inputs"
    type = "📖 - READER"

    def __init__(self, chains: Sequence[Sequence[PipelineStep]]) -> None:
        super().__init__()
        if not chains or not all(chains):
            raise ValueError("ReadInputs needs one non-empty chain of steps per input")
        self.chains = [list(chain) for chain in chains]

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for chain in self.chains:
            documents: DocumentsPipeline = None
            for step in chain:
                documents = step(documents, rank, world_size)
            try:
                yield from documents or ()
            finally:
                for step in chain:
                    self.stats.stats = self.stats.stats + step.stats.stats
