"""Small models and corpora for the evaluation tests: seeded tiny Llamas and CORPUS_SCHEMA shards.

The corpus comes from real fundus articles (publisher country from the fundus folder name);
texts are cut short so the tests stay fast on two CPU cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from corpus_builders import fundus_country
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from geocorpus.regions import PAPER_COUNTRIES
from geocorpus.schema import CORPUS_SCHEMA


def build_tiny_llama(tokenizer_dir: Path, out_dir: Path, seed: int = 0, max_positions: int = 128) -> Path:
    """A randomly initialised 2-layer Llama saved with its tokenizer; same seed, same weights."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def train_on_texts(model_dir: Path, texts: list[str], steps: int = 40, lr: float = 3e-2) -> Path:
    """Fit the model in ``model_dir`` to ``texts`` for a few Adam steps and save it in place."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = LlamaForCausalLM.from_pretrained(model_dir, local_files_only=True)
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    ids = torch.cat([torch.full((len(texts), 1), tokenizer.bos_token_id), batch["input_ids"]], dim=1)
    mask = torch.cat([torch.ones(len(texts), 1, dtype=torch.long), batch["attention_mask"]], dim=1)
    labels = ids.masked_fill(mask == 0, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.save_pretrained(model_dir)
    return model_dir


def corpus_row(
    doc_id: str, text: str, title: str | None, url: str, country: str, continent: str, split: str = "eval"
) -> dict:
    """A CORPUS_SCHEMA row with the columns evaluation reads filled in."""
    row = {field.name: None for field in CORPUS_SCHEMA}
    row.update(
        id=doc_id,
        text=text,
        title=title,
        url=url,
        url_normalized=url,
        country=country,
        continent=continent,
        split=split,
    )
    return row


def write_corpus(rows: list[dict], path: Path) -> Path:
    """One Parquet shard in CORPUS_SCHEMA."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=CORPUS_SCHEMA), path)
    return path


def fundus_corpus(shared_data: Path, path: Path, per_country: int = 3, max_chars: int = 300) -> Path:
    """Real fundus articles of the paper's countries as an eval shard (plus one train row)."""
    source = shared_data / "news" / "fundus" / "fundus_articles.jsonl"
    taken: dict[str, int] = {}
    rows = []
    for line in source.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        iso = fundus_country(record.get("fundus_country_dir") or "")
        if iso not in PAPER_COUNTRIES or not record.get("text") or taken.get(iso, 0) >= per_country:
            continue
        taken[iso] = taken.get(iso, 0) + 1
        rows.append(
            corpus_row(
                f"fundus-{len(rows)}",
                record["text"][:max_chars],
                record.get("title"),
                record["url"],
                iso,
                PAPER_COUNTRIES[iso],
            )
        )
    rows.append(corpus_row("train-only", "not held out", "t", "https://example.com/a", "US", "America", "train"))
    return write_corpus(rows, path)


@pytest.fixture(scope="session")
def tiny_llama_dir(tiny_tokenizer_dir, tmp_path_factory) -> Path:
    """A seeded random tiny Llama with the shared tiny tokenizer (import this fixture to use it)."""
    return build_tiny_llama(tiny_tokenizer_dir, tmp_path_factory.mktemp("tiny_llama"), seed=0)


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """Tiny models gain nothing from threads, and on a shared 2-core machine extra threads thrash.

    Autouse in every test module that imports it; the previous setting is restored afterwards.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
