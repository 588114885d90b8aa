"""Shared fixtures: the real data folder and a tiny BPE tokenizer trained on the fly.

Without the real data folder, the tests that need it skip on a developer's machine, but fail under
``CI=true``: a green CI run must have run every end-to-end, fault and bad-input test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from geocorpus.paths import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        message = "real data folder ../shared/data (or $GEOCORPUS_SHARED) is not present"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; under CI=true the tests that need it must run, not skip")
        pytest.skip(message)
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
