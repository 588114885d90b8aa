"""Per-region perplexity: exact agreement with a plain forward pass, prefix tokens never counted."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from support.tagged_corpus import tagged_row, write_fundus_eval_file, write_tagged_file

from trainer_plugin.evaluation.corpus import load_eval_documents, parquet_files
from trainer_plugin.evaluation.errors import EvaluationError
from trainer_plugin.evaluation.perplexity import (
    WITH_METADATA,
    WITHOUT_METADATA,
    gap_table,
    region_table,
    score_documents,
)
from trainer_plugin.evaluation.runtime import load_causal_lm
from trainer_plugin.evaluation.scoring import ScoringSettings, encode
from trainer_plugin.template import PAPER_TEMPLATE

DOCS = [
    tagged_row(
        "a",
        "The finance minister said the budget would help farmers.",
        "https://www.thehindu.com/news/national/article1.ece",
        "IN",
        title="Budget passes",
        split="eval",
    ),
    tagged_row(
        "b",
        "Police said the election market report was weather news.",
        "https://www.nation.africa/kenya/news/x",
        "KE",
        title=None,
        split="eval",
    ),
    tagged_row(
        "c",
        "Football in Ghana and Nigeria drew a large crowd.",
        "https://www.bbc.co.uk/sport/a",
        "GB",
        title="Football",
        split="eval",
    ),
]


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_llama_dir):
    return load_causal_lm(tiny_llama_dir, device="cpu")


def _plain_forward_nll(model, tokenizer, prefix: str, body: str) -> tuple[float, int]:
    """Independent reference: one unpadded forward pass over BOS + prefix + body."""
    body_ids = encode(tokenizer, body)
    ids = [tokenizer.bos_token_id] + encode(tokenizer, prefix) + body_ids
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    logp = torch.log_softmax(logits[:-1].double(), dim=-1)
    token_logp = logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    return float(-token_logp[-len(body_ids) :].sum()), len(body_ids)


def test_perplexity_matches_plain_forward_pass(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    documents = load_eval_documents([write_tagged_file(DOCS, tmp_path / "c.parquet")])
    scores = score_documents(model, tokenizer, documents, settings=ScoringSettings(batch_size=2))
    total_nll, total_tokens = 0.0, 0
    for doc in DOCS:
        prefix, body = PAPER_TEMPLATE.render(doc)
        ref_nll, ref_tokens = _plain_forward_nll(model, tokenizer, prefix, body)
        row = scores.filter((scores["id"] == doc["id"]) & (scores["condition"] == WITH_METADATA)).row(0, named=True)
        assert row["n_tokens"] == ref_tokens
        assert row["nll"] == pytest.approx(ref_nll, rel=1e-5)
        total_nll, total_tokens = total_nll + ref_nll, total_tokens + ref_tokens
    table = region_table(scores, n_boot=200)
    overall = table.filter((table["level"] == "all") & (table["condition"] == WITH_METADATA)).row(0, named=True)
    assert overall["ppl"] == pytest.approx(math.exp(total_nll / total_tokens), rel=1e-5)
    assert overall["ppl_low"] <= overall["ppl"] <= overall["ppl_high"]
    assert set(table.filter(table["level"] == "country")["region"]) == {"IN", "KE", "GB"}


def test_prefix_tokens_are_never_counted(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    short = dict(DOCS[0], url_normalized="https://a.in/")
    long = dict(DOCS[0], url_normalized="https://www.thehindu.com/" + "news/national/" * 8 + "x.ece")
    documents = load_eval_documents([write_tagged_file([short, dict(long, id="long")], tmp_path / "c.parquet")])
    scores = score_documents(model, tokenizer, documents)
    body_tokens = len(encode(tokenizer, PAPER_TEMPLATE.body(DOCS[0])))
    assert (
        len(encode(tokenizer, PAPER_TEMPLATE.prefix(long))) > len(encode(tokenizer, PAPER_TEMPLATE.prefix(short))) + 20
    )
    assert scores["n_tokens"].to_list() == [body_tokens] * 4  # 2 docs x 2 conditions
    by_condition = {
        c: scores.filter(scores["condition"] == c)["nll"].to_list() for c in (WITH_METADATA, WITHOUT_METADATA)
    }
    assert by_condition[WITHOUT_METADATA][0] == pytest.approx(by_condition[WITHOUT_METADATA][1], rel=1e-6)
    assert by_condition[WITH_METADATA][0] != pytest.approx(by_condition[WITH_METADATA][1], rel=1e-6)


def test_sliding_window_counts_every_body_token_once(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    doc = tagged_row(
        "long",
        "government election market football weather police " * 2,
        "https://www.thehindu.com/a",
        "IN",
        title="Long",
        split="eval",
    )
    documents = load_eval_documents([write_tagged_file([doc], tmp_path / "c.parquet")])
    body_tokens = len(encode(tokenizer, PAPER_TEMPLATE.body(doc)))
    prefix_tokens = len(encode(tokenizer, PAPER_TEMPLATE.prefix(doc)))
    assert body_tokens > 48 and 1 + prefix_tokens + body_tokens <= 128  # windowed at 48, whole at 128
    windowed = score_documents(model, tokenizer, documents, settings=ScoringSettings(max_length=48, stride=16))
    assert windowed["n_tokens"].to_list() == [body_tokens, body_tokens]
    full = score_documents(model, tokenizer, documents, settings=ScoringSettings(max_length=128, stride=127))
    ref_nll, _ = _plain_forward_nll(model, tokenizer, PAPER_TEMPLATE.prefix(doc), PAPER_TEMPLATE.body(doc))
    assert full["nll"][0] == pytest.approx(ref_nll, rel=1e-5)
    assert np.isfinite(windowed["nll"].to_numpy()).all()


def test_real_fundus_corpus_region_tables(model_and_tokenizer, shared_data, tmp_path):
    model, tokenizer = model_and_tokenizer
    documents = load_eval_documents([write_fundus_eval_file(shared_data, tmp_path / "fundus" / "part.parquet")])
    assert "train-only" not in documents["id"].to_list()
    scores = score_documents(model, tokenizer, documents, settings=ScoringSettings(batch_size=16))
    assert (scores["n_tokens"] > 0).all()
    counts = scores.pivot(on="condition", index="id", values="n_tokens")
    assert counts[WITH_METADATA].to_list() == counts[WITHOUT_METADATA].to_list()
    gaps = gap_table(scores, n_boot=200)
    assert {"America", "Europe", "Africa"} <= set(gaps.filter(gaps["level"] == "continent")["region"])
    assert ((gaps["gap_low"] <= gaps["gap"]) & (gaps["gap"] <= gaps["gap_high"])).all()
    assert (gaps["gap"] - (gaps["ppl_without"] - gaps["ppl_with"])).abs().max() < 1e-9


def test_bad_corpus_input_names_file_and_row(tmp_path):
    missing = tmp_path / "missing.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["x"], "text": ["t"]}), missing)
    with pytest.raises(EvaluationError, match=r"missing\.parquet: missing column"):
        load_eval_documents([missing])
    untagged = write_tagged_file([DOCS[0], dict(DOCS[1], country=None)], tmp_path / "untagged.parquet")
    with pytest.raises(EvaluationError, match=r"untagged\.parquet row 1 \(id 'b'\)"):
        load_eval_documents([untagged])
    with pytest.raises(EvaluationError, match="does not exist"):
        load_eval_documents([tmp_path / "nope.parquet"])


def test_a_run_folder_yields_its_split_shards_only(tmp_path):
    run = tmp_path / "run"
    write_tagged_file(DOCS, run / "data" / "eval-00000.parquet")
    write_tagged_file([dict(DOCS[0], id="train-doc", split="train")], run / "data" / "train-00000.parquet")
    write_tagged_file([dict(DOCS[0], id="work-file")], run / "stages" / "tagged" / "00000.parquet")
    assert parquet_files([run], "eval") == [run / "data" / "eval-00000.parquet"]
    documents = load_eval_documents([run])
    assert sorted(documents["id"].to_list()) == sorted(d["id"] for d in DOCS)
    assert load_eval_documents([run / "data"], split=None)["id"].to_list().count("work-file") == 0
    with pytest.raises(EvaluationError, match=r"holds no data/dev-\*.parquet files"):
        load_eval_documents([run], split="dev")


def _paper_18_reference(model, tokenizer, text: str, max_length: int) -> tuple[float, int]:
    """18_perplexity_eval.py's token_loss_sum_and_count (l.79-122), step for step."""
    input_ids = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length).input_ids
    title_tokens = tokenizer.encode("TITLE:", add_special_tokens=False)
    title_pos = None
    for i in range(len(input_ids[0]) - len(title_tokens) + 1):
        if torch.equal(input_ids[0][i : i + len(title_tokens)], torch.tensor(title_tokens)):
            title_pos = i
            break
    with torch.no_grad():
        logits = model(input_ids).logits
    losses = torch.nn.CrossEntropyLoss(reduction="none")(
        logits[..., :-1, :].reshape(-1, logits.size(-1)).double(), input_ids[..., 1:].reshape(-1)
    )
    content = losses if title_pos is None else losses[title_pos:]
    return float(content.sum()), int(content.numel())


def test_paper_compat_mode_reproduces_the_papers_scoring(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    long = tagged_row(
        "long", "government election market football weather police " * 4, "https://www.thehindu.com/a", "IN",
        title="Long", split="eval",
    )  # fmt: skip
    documents = load_eval_documents([write_tagged_file([*DOCS, long], tmp_path / "c.parquet")])
    settings = ScoringSettings(max_length=64, batch_size=3)
    scores = score_documents(model, tokenizer, documents, settings=settings, paper_compat=True)
    for doc in [*DOCS, long]:
        for condition, prefix_on in ((WITH_METADATA, True), (WITHOUT_METADATA, False)):
            prefix, body = PAPER_TEMPLATE.render(doc)
            ref_nll, ref_tokens = _paper_18_reference(model, tokenizer, (prefix if prefix_on else "") + body, 64)
            row = scores.filter((scores["id"] == doc["id"]) & (scores["condition"] == condition)).row(0, named=True)
            assert row["n_tokens"] == ref_tokens and row["nll"] == pytest.approx(ref_nll, rel=1e-5)
    # unlike the default, the two conditions score different token sets: the prefix eats the 64-token budget
    counts = scores.filter(scores["id"] == "long").sort("condition")["n_tokens"].to_list()
    default = score_documents(model, tokenizer, documents.filter(documents["id"] == "long"), settings=settings)
    assert counts[0] < counts[1] and set(default["n_tokens"].to_list()) == {
        len(encode(tokenizer, PAPER_TEMPLATE.body(long)))
    }
