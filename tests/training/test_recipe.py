"""The paper's recipe knobs reach the optimizer and scheduler, and --dry-run sizes a config without
building it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from support.tagged_corpus import synthetic_rows, write_tagged_corpus
from typer.testing import CliRunner

from pipelines.cli import app
from trainer_plugin.config import ConfigError, load_config
from trainer_plugin.model import build_model
from trainer_plugin.plan import count_parameters, plan
from trainer_plugin.tokenizer import load_tokenizer
from trainer_plugin.train import main, prepare_run

CONFIGS = Path(__file__).resolve().parents[2] / "trainer_plugin" / "configs"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tagged_corpus(synthetic_rows(docs_per_country=4), tmp_path_factory.mktemp("recipe"))


def tiny(corpus, tokenizer_dir, out, **training) -> dict:
    return {
        "output_dir": str(out),
        "tokenizer": str(tokenizer_dir),
        "data": {"train": str(corpus), "seq_len": 64},
        "model": {"hidden_size": 32, "num_layers": 2, "num_heads": 4, "tie_word_embeddings": False},
        "training": {"max_steps": 10, "per_device_batch_size": 2, "gradient_accumulation_steps": 3, **training},
    }


def test_min_lr_betas_and_clipping_reach_the_trainer(corpus, tiny_tokenizer_dir, tmp_path):
    cfg = tiny(
        corpus,
        tiny_tokenizer_dir,
        tmp_path,
        learning_rate=3e-3,
        min_lr=3e-4,
        warmup_steps=2,
        adam_beta2=0.95,
        adam_epsilon=1e-7,
        max_grad_norm=0.1,
    )
    trainer = prepare_run(load_config(cfg)).trainer
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    group = trainer.optimizer.param_groups[0]
    assert group["betas"] == (0.9, 0.95) and group["eps"] == 1e-7
    assert trainer.args.max_grad_norm == 0.1
    rates = []
    for _ in range(10):
        rates.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert rates[2] == pytest.approx(3e-3)  # warm-up done
    assert rates[-1] == pytest.approx(3e-4 + (3e-3 - 3e-4) * (1 + math.cos(math.pi * 7 / 8)) / 2)
    assert min(rates[2:]) > 3e-4 * 0.999  # cosine to the floor, never below it
    with pytest.raises(ConfigError, match="training.min_lr needs lr_scheduler: cosine, got 'linear'"):
        load_config(tiny(corpus, tiny_tokenizer_dir, tmp_path, min_lr=1e-4, lr_scheduler="linear"))


def test_dry_run_counts_equal_the_built_model(corpus, tiny_tokenizer_dir, tmp_path):
    config = load_config(tiny(corpus, tiny_tokenizer_dir, tmp_path))
    result = plan(config, world_size=2)
    built = count_parameters(build_model(config, load_tokenizer(tiny_tokenizer_dir)))
    assert {k: result[k] for k in built} == built
    vocab = len(load_tokenizer(tiny_tokenizer_dir))
    assert result["embedding_parameters"] == 2 * vocab * 32  # untied: input embeddings and LM head
    assert result["tokens_per_step"] == 64 * 2 * 3 * 2 and result["total_tokens"] == 64 * 2 * 3 * 2 * 10
    assert not (tmp_path / "checkpoint-1").exists()


@pytest.mark.parametrize(
    ("name", "params", "non_embedding"), [("paper_500m", 534.0e6, 402.7e6), ("paper_1b", 1.085e9, 822.2e6)]
)
def test_paper_configs_have_the_papers_sizes(name, params, non_embedding):
    result = plan(load_config(CONFIGS / f"{name}.yaml"), world_size=4, vocab_size=128256)
    assert result["parameters"] == pytest.approx(params, rel=1e-3)
    assert result["non_embedding_parameters"] == pytest.approx(non_embedding, rel=1e-3)
    assert result["tokens_per_step"] == 2048 * 8 * 64 * 4  # 4.19M tokens per step, as the paper's launcher
    assert result["total_tokens"] == 4_194_304 * 10_000
    config = load_config(CONFIGS / f"{name}.yaml")
    assert (config.training.min_lr, config.training.adam_beta2, config.training.max_grad_norm) == (3e-4, 0.95, 0.1)
    assert config.data.seq_len == 2048 and config.data.document_isolation is False


def test_dry_run_from_both_command_lines_prints_one_json_line(corpus, tiny_tokenizer_dir, tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(tiny(corpus, tiny_tokenizer_dir, tmp_path / "out")))
    assert main([str(path), "--dry-run", "--world-size", "3"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.strip())["tokens_per_step"] == 64 * 6 * 3 and "parameters" in err
    result = CliRunner().invoke(app, ["train", str(CONFIGS / "paper_1b.yaml"), "--dry-run", "--vocab-size", "128256"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["parameters"] == 1_084_819_456 and summary["world_size"] == 1
    missing = CliRunner().invoke(app, ["train", str(CONFIGS / "paper_1b.yaml"), "--dry-run"])
    assert missing.exit_code == 2 and "pass --vocab-size" in missing.output
