"""Shared fixtures: the real data folder (skip when absent) and a tiny BPE tokenizer trained on the fly."""

from __future__ import annotations

from pathlib import Path

import pytest

from geocorpus.paths import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data folder ../shared/data (or $GEOCORPUS_SHARED) is not present")
    return path


_TOKENIZER_TEXT = [
    "URL: https://www.thehindu.com/news/national/article1.ece\nCOUNTRY: in\nCONTINENT: Asia\n\n",
    "TITLE: Parliament passes the budget\n\nCONTENT: The finance minister said the budget would",
    " help farmers in Kenya, Nigeria, Ghana, India, Pakistan and the United States of America.",
    "Europe Africa America Asia news report government election market football weather police",
]


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    """A byte-level BPE (vocab ~300) saved as a transformers PreTrainedTokenizerFast folder."""
    from trainer_plugin.tokenizer import train_bpe_tokenizer

    return train_bpe_tokenizer(_TOKENIZER_TEXT * 20, tmp_path_factory.mktemp("tokenizer"), vocab_size=320)
