"""A DataLoader that knows, in the main process, how far each worker's stream has been consumed.

Why: with ``num_workers > 0`` the dataset runs in worker processes that prefetch ahead, so its own
counters say what was *produced*, not what the trainer *took*. Each batch carries its worker's
stream position (``_pos``, set by the collator); this loader strips it before the batch reaches the
model and records it on the dataset, so ``dataset.state_dict()`` is exact at any step.

Batches cross from workers as numpy arrays and become tensors here: a torch tensor sent from a
worker travels as a shared-memory file descriptor, which profiling put at about a quarter of the
main process's time (``rebuild_storage_fd``), while pickling a few hundred KB of numpy is cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from torch.utils.data import DataLoader

from trainer_plugin.dataset import PackedDataset
from trainer_plugin.packing import PackedCollator, to_tensors


class ResumableDataLoader(DataLoader):
    """``DataLoader`` over a PackedDataset whose ``state_dict`` follows what was actually consumed.

    ``attn_implementation`` and the dataset's ``document_isolation`` decide what the collator adds
    to keep packed documents apart (see ``trainer_plugin.packing``).
    """

    def __init__(
        self,
        dataset: PackedDataset,
        batch_size: int,
        num_workers: int = 0,
        attn_implementation: str = "sdpa",
        pin_memory: bool = False,
        **kwargs: Any,
    ) -> None:
        if not isinstance(dataset, PackedDataset):
            raise TypeError(f"ResumableDataLoader needs a PackedDataset, got {type(dataset).__name__}")
        kwargs.setdefault(
            "collate_fn",
            PackedCollator(
                attn_implementation=attn_implementation,
                document_isolation=dataset.document_isolation,
                with_stream_position=True,
                as_numpy=True,
            ),
        )
        if num_workers > 0:
            kwargs.setdefault("persistent_workers", False)
        super().__init__(dataset, batch_size=batch_size, num_workers=num_workers, **kwargs)
        self.pin = pin_memory  # done here, after the numpy arrays became tensors
        dataset.set_num_workers(num_workers)

    @property
    def _packed_dataset(self) -> PackedDataset:
        """``self.dataset``, as the PackedDataset ``__init__`` insists on."""
        return cast(PackedDataset, self.dataset)

    # torch types DataLoader.__iter__ as its private _BaseDataLoaderIter; this one yields plain batches
    def __iter__(self) -> Iterator[dict]:  # type: ignore[override]
        dataset = self._packed_dataset
        # the workers (or the in-process iterator) take the resume point while super() starts them
        batches = dataset.begin_pass(super().__iter__)
        for batch in batches:
            position = batch.pop("_pos", None)
            if position is not None:
                dataset.record_position(position)
            yield to_tensors(batch, self.pin)

    def state_dict(self) -> dict:
        return self._packed_dataset.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self._packed_dataset.load_state_dict(state)
