"""geocorpus trainer plugin: stream tagged Parquet into metadata-conditioned pretraining.

The pieces a training script needs are importable from here (the runner is
``trainer_plugin.train.train``); they load lazily so that importing
``trainer_plugin.template`` (e.g. from the evaluation) does not pull in torch and transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Condition": "trainer_plugin.conditions",
    "ConditionError": "trainer_plugin.conditions",
    "load_condition": "trainer_plugin.conditions",
    "known_conditions": "trainer_plugin.conditions",
    "MetadataTemplate": "trainer_plugin.template",
    "PackedDataset": "trainer_plugin.dataset",
    "Source": "trainer_plugin.dataset",
    "region_sources": "trainer_plugin.dataset",
    "Packer": "trainer_plugin.packing",
    "PackedCollator": "trainer_plugin.packing",
    "ResumableDataLoader": "trainer_plugin.loader",
    "DatasetStateCallback": "trainer_plugin.callbacks",
    "restore_dataset_state": "trainer_plugin.callbacks",
    "GeoTrainer": "trainer_plugin.train",
    "TrainConfig": "trainer_plugin.config",
    "load_config": "trainer_plugin.config",
    "ConfigError": "geocorpus.typed_config",  # the project's one config error; conditions subclass it
    "load_tokenizer": "trainer_plugin.tokenizer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'trainer_plugin' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
