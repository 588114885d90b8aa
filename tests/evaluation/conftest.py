"""Evaluation fixtures: a seeded tiny Llama, and one torch thread for every evaluation test module."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support.tiny_models import build_tiny_llama


@pytest.fixture(scope="session")
def tiny_llama_dir(tiny_tokenizer_dir, tmp_path_factory) -> Path:
    """A seeded random tiny Llama with the shared tiny tokenizer."""
    return build_tiny_llama(tiny_tokenizer_dir, tmp_path_factory.mktemp("tiny_llama"), seed=0)


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """Tiny models gain nothing from threads, and on a shared 2-core machine extra threads thrash.

    Autouse for every module under tests/evaluation; the previous setting is restored afterwards.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
