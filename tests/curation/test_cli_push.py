"""A Hub-ready dataset: the card's header, `datasets.load_dataset(OUT)` and the push commit (issue 16).

Before, the card's YAML header had only ``configs`` (no license, language, sizes), the held-out split was
``eval`` to ``datasets`` and there was no way to push. A real finalize run over real fundus rows makes the
folder; the push is checked offline through the huggingface_hub operation objects it would send.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from huggingface_hub import CommitOperationAdd
from support.finalize_inputs import finalize_config, run_finalize_tasks, unique_fundus_rows, write_tagged_shards
from typer.testing import CliRunner

from geocorpus.finalize.stage import report_task
from geocorpus.hub import PushError, commit_operations
from pipelines.cli import app


def _finished_run(shared_data: Path, tmp_path: Path, license: str = "cc-by-4.0") -> tuple[Path, dict]:
    rows = unique_fundus_rows(shared_data)
    config = finalize_config(tmp_path / "out", tmp_path, tasks=2)
    config.card.license = license
    config.card.pretty_name = "Fundus, localized"
    run_finalize_tasks(config, write_tagged_shards(rows, tmp_path / "tagged", 3))
    counts = config.layout.counts
    counts.mkdir(parents=True)
    (counts / "in-00000.json").write_text(json.dumps({"input": "in", "documents": len(rows)}))
    return config.output_dir, report_task(config)


def _header(card: Path) -> dict:
    text = card.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_the_card_header_is_hub_ready_and_load_dataset_gives_train_and_validation(shared_data, tmp_path):
    from datasets import load_dataset

    out, report = _finished_run(shared_data, tmp_path)
    header = _header(out / "README.md")
    assert header["license"] == "cc-by-4.0" and header["pretty_name"] == "Fundus, localized"
    assert header["language"] == ["en"] and header["task_categories"] == ["text-generation"]
    total = sum(report["stats"]["splits"].values())
    assert 100 < total < 1000 and header["size_categories"] == ["n<1K"]
    assert header["source_datasets"] == ["in"]
    splits = {f["split"]: f["path"] for f in header["configs"][0]["data_files"]}
    assert set(splits) == {"train", "validation"}
    assert "@article{" in (out / "README.md").read_text()
    corpus = load_dataset(str(out))
    assert set(corpus) == {"train", "validation"}
    assert corpus["train"].num_rows + corpus["validation"].num_rows == report["reconcile"]["kept"]
    assert corpus["validation"].num_rows > 0


def test_push_sends_exactly_the_publishable_files_as_hub_operations(shared_data, tmp_path):
    out, _ = _finished_run(shared_data, tmp_path)
    (out / "logs").mkdir(exist_ok=True)
    (out / "logs" / "secret.log").write_text("not for the Hub")
    operations = commit_operations(out)
    assert all(isinstance(op, CommitOperationAdd) for op in operations)
    paths = [op.path_in_repo for op in operations]
    assert paths[0] == "README.md" and "manifest.json" in paths and "report.json" in paths
    data = sorted(p.relative_to(out).as_posix() for p in (out / "data").glob("*.parquet"))
    assert [p for p in paths if p.startswith("data/")] == data
    assert not [p for p in paths if p.startswith(("logs/", "stages/", "exclusions/"))]
    for op in operations:
        assert Path(str(op.path_or_fileobj)) == out / op.path_in_repo
        assert op.upload_info.size == (out / op.path_in_repo).stat().st_size  # hashed from the file itself
    listed = CliRunner().invoke(app, ["push", str(out), "me/news", "--dry-run"])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.split() == paths


def test_push_refuses_a_folder_that_is_not_a_finished_run(shared_data, tmp_path):
    out, _ = _finished_run(shared_data, tmp_path)
    report = json.loads((out / "report.json").read_text())
    report["reconcile"]["ok"] = False
    (out / "report.json").write_text(json.dumps(report))
    result = CliRunner().invoke(app, ["push", str(out), "me/news", "--dry-run"])
    assert result.exit_code == 2 and "refusing to push" in " ".join(result.output.split())
    try:
        commit_operations(tmp_path / "tagged")
    except PushError as exc:
        assert "no README.md dataset card" in str(exc)
    else:
        raise AssertionError("a folder without a card was accepted")
