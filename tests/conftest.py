"""Shared fixtures: the real data folder (skip when absent) and a tiny BPE tokenizer trained on the fly."""

from __future__ import annotations

from pathlib import Path

import pytest

from geocorpus.shared_data import shared_data_dir


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
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_TOKENIZER_TEXT * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>", bos_token="<|endoftext|>"
    )
    out = tmp_path_factory.mktemp("tokenizer")
    fast.save_pretrained(out)
    return out
