"""End to end on CPU: a tiny Llama learns from real fundus news, resumes exactly, and bad configs stop early."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from support.tagged_corpus import fundus_rows, synthetic_rows, write_tagged_corpus

from geocorpus.typed_config import ConfigError as TypedConfigError
from trainer_plugin.conditions import ConditionError
from trainer_plugin.config import ConfigError, TrainingConfig, load_config
from trainer_plugin.shards import CorpusError
from trainer_plugin.train import main, train

ENGLISH_COUNTRIES = ["US", "GB", "CA", "ZA", "AU", "IN", "IE"]
CONFIGS = Path(__file__).resolve().parents[2] / "trainer_plugin" / "configs"


@pytest.fixture(scope="module")
def fundus_corpus(shared_data, tmp_path_factory):
    return write_tagged_corpus(
        fundus_rows(shared_data), tmp_path_factory.mktemp("fundus"), shards=2, row_group_size=25
    )


def tiny_config(data, tokenizer_dir, output_dir, **training) -> dict:
    return {
        "output_dir": str(output_dir),
        "tokenizer": str(tokenizer_dir),
        "seed": 11,
        "data": {"train": str(data), "seq_len": 128, "shuffle_buffer": 512},
        "condition": "url_country_continent",
        "model": {"hidden_size": 64, "num_layers": 2, "num_heads": 4},
        "training": {
            "max_steps": 60,
            "per_device_batch_size": 8,
            "learning_rate": 3e-3,
            "lr_scheduler": "constant",
            "logging_steps": 5,
            "save_steps": 1000,
            **training,
        },
    }


def test_tiny_llama_loss_falls_on_real_news(fundus_corpus, tiny_tokenizer_dir, tmp_path, one_thread):
    config = tiny_config(fundus_corpus, tiny_tokenizer_dir, tmp_path / "run", learning_rate=2e-3)
    # English-language outlets: the tiny English BPE makes CJK or German pages a different task
    config["condition"] = {"name": "url_country_continent", "include_regions": ENGLISH_COUNTRIES}
    result = train(config)
    losses = [loss for _, loss in result["losses"]]
    assert result["global_step"] == 60 and len(losses) == 12
    assert losses[0] > 4.5  # about ln(vocab) at the start
    assert sum(losses[-3:]) / 3 < losses[0] - 1.5, losses
    checkpoint = tmp_path / "run" / "checkpoint-60"
    state = json.loads((checkpoint / "dataset_state.json").read_text())
    assert state["workers"]["0"][2] == 60 * 8  # sequences the trainer took


def test_resumed_training_repeats_the_uninterrupted_losses(fundus_corpus, tiny_tokenizer_dir, tmp_path, one_thread):
    straight = train(
        tiny_config(fundus_corpus, tiny_tokenizer_dir, tmp_path / "a", max_steps=12, logging_steps=1, save_steps=6)
    )
    interrupted = tiny_config(
        fundus_corpus, tiny_tokenizer_dir, tmp_path / "b", max_steps=6, logging_steps=1, save_steps=6
    )
    train(interrupted)
    interrupted["training"]["max_steps"] = 12
    interrupted["resume"] = True
    resumed = train(interrupted)
    assert resumed["resumed_from"].endswith("checkpoint-6")
    want = dict(straight["losses"])
    got = dict(resumed["losses"])  # the Trainer's history: steps 1-6 from the checkpoint, 7-12 new
    assert sorted(got) == list(range(1, 13))
    for step in range(7, 13):
        assert got[step] == pytest.approx(want[step], abs=1e-5), (step, got[step], want[step])


def test_config_errors_name_the_bad_key(tmp_path, tiny_tokenizer_dir):
    good = tiny_config(tmp_path, tiny_tokenizer_dir, tmp_path / "out")
    bad = json.loads(json.dumps(good))
    bad["training"]["lerning_rate"] = 0.1
    with pytest.raises(
        ConfigError, match=r"^<config>: unknown key 'training.lerning_rate'; allowed here: \[.*'learning_rate'"
    ):
        load_config(bad)
    bad = {**good, "epochs": 3}
    with pytest.raises(ConfigError, match=r"unknown key 'epochs'; allowed here: \[.*'training'"):
        load_config(bad)
    bad = json.loads(json.dumps(good))
    bad["training"]["max_steps"] = "ten"
    with pytest.raises(ConfigError, match="training.max_steps: expected int, got 'ten'"):
        load_config(bad)
    bad = json.loads(json.dumps(good))
    del bad["data"]["train"]
    with pytest.raises(ConfigError, match="exactly one of data.train"):
        load_config(bad)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("model", "num_kv_heads", "2", r"model.num_kv_heads: expected int \| None, got '2'"),
        ("training", "save_total_limit", "two", r"training.save_total_limit: expected int \| None, got 'two'"),
        ("training", "bf16", "yes", "training.bf16: expected true or false, got 'yes'"),
        ("training", "learning_rate", "3e-3", "training.learning_rate: expected a finite number, got '3e-3'"),
        ("data", "train", 7, r"data.train: expected str \| list\[str\] \| None, got 7"),
        ("data", "seq_len", 0, "data.seq_len: must be >= 1, got 0"),
        ("model", "num_kv_heads", 3, "model.num_heads must be divisible by model.num_kv_heads"),
    ],
)
def test_wrongly_typed_values_are_named_with_the_file(tmp_path, tiny_tokenizer_dir, section, key, value, message):
    config = tiny_config(tmp_path, tiny_tokenizer_dir, tmp_path / "out")
    config[section][key] = value
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: {message}"):
        load_config(path)


def test_typed_config_reads_sections_and_keeps_values_exact(tmp_path, tiny_tokenizer_dir):
    config = tiny_config(tmp_path, tiny_tokenizer_dir, tmp_path / "out")
    config["model"]["num_kv_heads"] = 2
    config["training"]["save_total_limit"] = None
    config["condition"] = {"name": "regional", "include_regions": ["Asia"]}
    loaded = load_config(config)
    assert isinstance(loaded.training, TrainingConfig) and loaded.training.learning_rate == 3e-3
    assert loaded.model.num_kv_heads == 2 and loaded.training.save_total_limit is None
    assert loaded.condition == {"name": "regional", "include_regions": ["Asia"]}
    assert issubclass(ConditionError, ConfigError) and ConfigError is TypedConfigError


def test_bad_data_or_condition_stops_before_training(tmp_path, tiny_tokenizer_dir):
    data = write_tagged_corpus(synthetic_rows(countries=["IN", "KE"], docs_per_country=5), tmp_path / "corpus")
    config = tiny_config(data, tiny_tokenizer_dir, tmp_path / "out")
    with pytest.raises(CorpusError, match=r"no documents for condition 'regional' \(include_regions=\['Europe'\]"):
        train({**config, "condition": {"name": "regional", "include_regions": ["Europe"]}})
    with pytest.raises(ConditionError, match=r"unknown metadata field\(s\) \['city'\]"):
        train({**config, "condition": {"name": "url", "metadata": ["url", "city"]}})
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(next(Path(data).glob("train-*.parquet")), bare / "train-00000.parquet")
    import pyarrow.parquet as pq

    pq.write_table(pq.read_table(bare / "train-00000.parquet").drop(["country"]), bare / "train-00000.parquet")
    with pytest.raises(CorpusError, match=r"missing column\(s\) \['country'\]"):
        train({**config, "data": {"train": str(bare)}})
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("checkpoint-*"))


def test_bundled_configs_validate():
    names = sorted(p.name for p in CONFIGS.glob("*.yaml"))
    assert {"tiny_cpu.yaml", "llama_100m_gpu.yaml"} <= set(names)
    for name in names:
        config = load_config(CONFIGS / name)
        assert config.training.max_steps > 0
    assert load_config(CONFIGS / "llama_100m_gpu.yaml").training.bf16 is True


def test_cli_trains_from_a_yaml_file(tmp_path, tiny_tokenizer_dir, one_thread):
    data = write_tagged_corpus(synthetic_rows(countries=["IN", "KE", "GB"], docs_per_country=10), tmp_path / "corpus")
    config = tiny_config(data, tiny_tokenizer_dir, tmp_path / "out", max_steps=3, save_steps=3)
    config["condition"] = {"name": "leave_one_out", "exclude_regions": ["KE"]}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main([str(path)]) == 0
    assert (tmp_path / "out" / "checkpoint-3" / "dataset_state.json").is_file()
    with pytest.raises(SystemExit) as exited:
        main([])  # argparse: usage on stderr, exit code 2
    assert exited.value.code == 2


def test_every_lazy_export_resolves_to_its_home():
    import trainer_plugin

    for name in trainer_plugin.__all__:
        assert getattr(trainer_plugin, name) is not None, name
    assert (
        trainer_plugin.ConfigError is TypedConfigError
        and trainer_plugin.Condition.__module__ == "trainer_plugin.conditions"
    )


def test_a_resume_with_another_seq_len_is_refused_on_the_command_line(tmp_path, tiny_tokenizer_dir, one_thread):
    """The issue's case: seq_len 64 -> 256 used to resume and skip 4x the tokens already trained on."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    data = write_tagged_corpus(synthetic_rows(countries=["IN", "KE", "GB"], docs_per_country=8), tmp_path / "corpus")
    config = tiny_config(data, tiny_tokenizer_dir, tmp_path / "out", max_steps=3, save_steps=3)
    config["data"]["seq_len"] = 64
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main([str(path)]) == 0
    config["data"]["seq_len"], config["resume"], config["training"]["max_steps"] = 256, True, 6
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 2, result.output
    assert "cannot resume" in result.output and "seq_len 64 -> 256" in result.output and "4x" in result.output
    assert not (tmp_path / "out" / "checkpoint-6").exists()


def test_a_second_run_into_a_used_output_dir_is_refused_unless_told_to_resume_or_overwrite(
    tmp_path, tiny_tokenizer_dir, one_thread
):
    """A run without ``resume`` used to train over an earlier run, replacing its checkpoints one by one."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    data = write_tagged_corpus(synthetic_rows(countries=["IN", "KE", "GB"], docs_per_country=8), tmp_path / "corpus")
    out = tmp_path / "out"
    config = tiny_config(data, tiny_tokenizer_dir, out, max_steps=4, save_steps=2)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main([str(path)]) == 0
    (out / "notes.txt").write_text("the user's own file")
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert {"checkpoint-4", "model"} <= set(before)

    config["training"]["max_steps"] = 3
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "already holds a run" in message and "checkpoint-4" in message and "model" in message
    assert "resume: true" in message and "overwrite: true" in message
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # nothing touched

    config["overwrite"], config["resume"] = True, True
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 2 and "not both" in result.output

    config["resume"] = False
    path.write_text(yaml.safe_dump(config))
    assert main([str(path)]) == 0
    names = {p.name for p in out.iterdir()}
    assert "checkpoint-4" not in names and {"checkpoint-3", "model", "notes.txt"} <= names
    assert (out / "notes.txt").read_text() == "the user's own file"
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
