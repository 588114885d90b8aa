"""Starting from a checkpoint: weights only (init_from), weights + optimizer (init_optimizer, MeCo's
cooldown stage), step-0 weights, disjoint document slices, and the bundled multi-stage YAML configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from support.tagged_corpus import fundus_rows, synthetic_rows, write_tagged_corpus
from support.tiny_models import model_weights

from trainer_plugin.checkpoints import CheckpointError, resolve_model_dir
from trainer_plugin.config import ConfigError, load_config
from trainer_plugin.dataset import PackedDataset
from trainer_plugin.model import build_model
from trainer_plugin.tokenizer import load_tokenizer, train_bpe_tokenizer
from trainer_plugin.train import train

CONFIGS = Path(__file__).resolve().parents[2] / "trainer_plugin" / "configs"


@pytest.fixture(scope="module")
def news(shared_data, tmp_path_factory):
    rows = [dict(r, split="train") for r in fundus_rows(shared_data)]
    return write_tagged_corpus(rows, tmp_path_factory.mktemp("news"), shards=2, row_group_size=30)


def config(data, tokenizer_dir, output_dir, **training) -> dict:
    return {
        "output_dir": str(output_dir),
        "tokenizer": str(tokenizer_dir),
        "seed": 5,
        "data": {"train": str(data), "seq_len": 96, "shuffle_buffer": 64},
        "condition": "url_country_continent",
        "model": {"hidden_size": 32, "num_layers": 2, "num_heads": 4},
        "training": {
            "max_steps": 6,
            "per_device_batch_size": 4,
            "learning_rate": 3e-3,
            "logging_steps": 1,
            "save_steps": 3,
            **training,
        },
    }


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_init_from_takes_weights_only_and_the_initial_state_is_saved(news, tiny_tokenizer_dir, tmp_path, one_thread):
    first = train(config(news, tiny_tokenizer_dir, tmp_path / "global"))
    source = resolve_model_dir(tmp_path / "global")  # a run folder means its final model/ folder
    assert source == tmp_path / "global" / "model" and first["global_step"] == 6
    assert same_weights(model_weights(source), model_weights(tmp_path / "global" / "checkpoint-6"))
    second_config = config(news, tiny_tokenizer_dir, tmp_path / "regional", save_initial_state=True)
    del second_config["model"]
    second_config["init_from"] = str(tmp_path / "global")
    second_config["condition"] = {"name": "regional", "include_regions": ["Europe"]}
    second = train(second_config)
    assert second["init_from"] == str(source)
    assert second["global_step"] == 6  # a fresh schedule: steps 1..6, not 7..12
    state = json.loads((tmp_path / "regional" / "checkpoint-6" / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4, 5, 6]
    initial = model_weights(tmp_path / "regional" / "initial")
    assert same_weights(initial, model_weights(source))  # step 0 of the regional run is the global model
    assert not same_weights(initial, model_weights(tmp_path / "regional" / "checkpoint-6"))
    assert (
        load_tokenizer(tmp_path / "regional" / "initial").get_vocab() == load_tokenizer(tiny_tokenizer_dir).get_vocab()
    )


def test_initial_state_of_a_fresh_run_is_its_seeded_initialisation(news, tiny_tokenizer_dir, tmp_path, one_thread):
    cfg = config(news, tiny_tokenizer_dir, tmp_path / "run", max_steps=2, save_steps=2, save_initial_state=True)
    train(cfg)
    fresh = build_model(load_config(cfg), load_tokenizer(tiny_tokenizer_dir)).state_dict()
    assert same_weights(model_weights(tmp_path / "run" / "initial"), fresh)


def test_init_optimizer_continues_schedule_and_step_with_a_fresh_stream(
    news, tiny_tokenizer_dir, tmp_path, one_thread
):
    """MeCo's two stages: stop at step 4 of an 8-step schedule, then continue on other documents."""
    common = {"max_steps": 8, "lr_scheduler": "cosine", "min_lr": 3e-4, "warmup_steps": 2, "adam_beta2": 0.95}
    straight = train(config(news, tiny_tokenizer_dir, tmp_path / "straight", **common))
    stage1_cfg = config(
        news, tiny_tokenizer_dir, tmp_path / "stage1", stop_after_steps=4, save_steps=100, logging_steps=2, **common
    )
    stage1_cfg["data"]["hash_range"] = [0.0, 0.8]
    stage1 = train(stage1_cfg)
    assert stage1["global_step"] == 4 and (tmp_path / "stage1" / "checkpoint-4").is_dir()
    stage2_cfg = config(news, tiny_tokenizer_dir, tmp_path / "stage2", **common)
    del stage2_cfg["model"]
    stage2_cfg.update(init_from=str(tmp_path / "stage1" / "checkpoint-4"), init_optimizer=True)
    stage2_cfg["data"]["hash_range"] = [0.8, 1.0]
    stage2_cfg["condition"] = {"name": "none", "bos": True}
    stage2 = train(stage2_cfg)
    assert stage2["resumed_from"].endswith("checkpoint-4") and stage2["global_step"] == 8
    # stage 2 logs and saves at its own cadence (1 and 3), not at stage 1's (2 and 100) in trainer_state.json
    assert (tmp_path / "stage2" / "checkpoint-6").is_dir()
    history = json.loads((tmp_path / "stage2" / "checkpoint-8" / "trainer_state.json").read_text())["log_history"]
    rates = {e["step"]: e["learning_rate"] for e in history if "learning_rate" in e}
    want = {
        e["step"]: e["learning_rate"]
        for e in json.loads((tmp_path / "straight" / "checkpoint-8" / "trainer_state.json").read_text())["log_history"]
        if "learning_rate" in e
    }
    assert straight["global_step"] == 8
    for step in range(5, 9):
        assert rates[step] == pytest.approx(want[step]), step  # the schedule continues, not restarts
    assert rates[8] > 3e-4 * 0.99 and rates[8] < 3e-3 * 0.5  # decaying towards the floor
    stream = json.loads((tmp_path / "stage2" / "checkpoint-8" / "dataset_state.json").read_text())
    assert stream["workers"]["0"][2] == 4 * 4  # a fresh stream: only stage 2's 4 steps x 4 sequences
    optimizer = torch.load(tmp_path / "stage2" / "checkpoint-8" / "optimizer.pt", weights_only=True)
    steps = {int(s["step"]) for s in optimizer["state"].values()}
    assert steps == {8}  # AdamW's moment estimates carried on from stage 1's 4 steps


def test_starting_points_that_cannot_work_are_refused(news, tiny_tokenizer_dir, tmp_path, one_thread):
    base = config(news, tiny_tokenizer_dir, tmp_path / "a", max_steps=2, save_steps=2)
    train(base)
    with pytest.raises(ConfigError, match=r"init_from takes the model's shape from .*remove model.hidden_size"):
        load_config({**base, "init_from": str(tmp_path / "a"), "output_dir": str(tmp_path / "b")})
    with pytest.raises(ConfigError, match="init_optimizer needs init_from"):
        load_config({**base, "init_optimizer": True})
    bare = {k: v for k, v in base.items() if k != "model"}
    with pytest.raises(ConfigError, match=r"is at step 2; training.max_steps \(2\) must be larger"):
        train({**bare, "init_from": str(tmp_path / "a"), "init_optimizer": True, "output_dir": str(tmp_path / "c")})
    with pytest.raises(CheckpointError, match="holds no model"):
        train({**bare, "init_from": str(tmp_path), "output_dir": str(tmp_path / "d")})
    other = train_bpe_tokenizer(["an entirely different tokenizer text " * 50], tmp_path / "other_tok", vocab_size=300)
    with pytest.raises(CheckpointError, match="was trained with another tokenizer"):
        train({**bare, "tokenizer": str(other), "init_from": str(tmp_path / "a"), "output_dir": str(tmp_path / "e")})


def test_hash_ranges_split_one_corpus_into_disjoint_slices(tmp_path, tiny_tokenizer_dir):
    rows = synthetic_rows(docs_per_country=12, words_per_doc=5)
    data = write_tagged_corpus(rows, tmp_path, shards=3, row_group_size=7)
    tokenizer = load_tokenizer(tiny_tokenizer_dir)

    def ids(hash_range):
        return {d["id"] for d in PackedDataset(data, tokenizer, hash_range=hash_range).documents()}

    low, high = ids([0.0, 0.9]), ids([0.9, 1.0])
    assert not low & high and low | high == {r["id"] for r in rows}
    assert 0.8 < len(low) / len(rows) < 0.97  # about 90% of 204 documents
    assert ids([0.0, 0.9]) == low  # stable


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bundled_multi_stage_configs_run_on_cpu(news, tiny_tokenizer_dir, tmp_path, one_thread):
    """GG-EZ (global -> regional from global) and MeCo (stage 1 -> cooldown) exactly as the bundled
    YAML files say, with only paths (and the tiny step counts) pointed at this test's folders."""

    def run(name, steps=None, **paths):
        cfg = yaml.safe_load((CONFIGS / name).read_text())
        cfg["tokenizer"], cfg["data"]["train"] = str(tiny_tokenizer_dir), str(news)
        cfg["output_dir"] = str(tmp_path / cfg["output_dir"])
        if "init_from" in cfg:
            cfg["init_from"] = str(tmp_path / cfg["init_from"])
        if steps:
            cfg["training"].update(steps)
        return train(cfg)

    short = {"max_steps": 12, "save_steps": 6}
    glob = run("tiny_cpu.yaml", short)
    regional = run("tiny_regional_from_global.yaml", {"max_steps": 6, "save_steps": 6})
    assert glob["global_step"] == 12 and regional["global_step"] == 6
    assert same_weights(
        model_weights(tmp_path / "runs/tiny_regional_america/initial"), model_weights(Path(regional["init_from"]))
    )
    stage1 = run("tiny_meco_stage1.yaml")
    assert stage1["global_step"] == 90 and stage1["condition"] == "meco"
    cooldown = run("tiny_meco_cooldown.yaml")
    assert cooldown["global_step"] == 100 and cooldown["resumed_from"].endswith("checkpoint-90")
