"""The curation pipeline end to end on real data: reconcile, readable output, re-run, executors, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import dill
import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml
from support.input_files import build_now_fixture, write_broken_jsonl
from typer.testing import CliRunner

from geocorpus.bucket_digests import Signer
from geocorpus.config import ConfigError, parse_config
from geocorpus.finalize.contamination import near_duplicate_pairs
from geocorpus.schema import CORPUS_SCHEMA, EXCLUSION_SCHEMA, MINHASH_DIGESTS, TAGGED_SCHEMA
from pipelines.cli import app
from pipelines.curate import build_stages, make_executors, run_curation


def curate_config(shared: Path, out: Path, tmp: Path) -> dict:
    broken = tmp / "broken.jsonl"
    expected_broken = write_broken_jsonl(broken)
    now_root = tmp / "now"
    build_now_fixture(now_root)
    return {
        "name": "e2e",
        "output": str(out),
        "inputs": [
            {
                "name": "fundus",
                "format": "jsonl",
                "path": str(shared / "news/fundus/fundus_articles.jsonl"),
                "fields": {
                    "url": "url",
                    "text": "text",
                    "title": "title",
                    "date": "publishing_date",
                    "country": "fundus_country_dir",
                },
            },
            {
                "name": "masakhanews",
                "format": "tsv",
                "path": str(shared / "news/masakhanews_eng/dev.tsv"),
                "fields": {"url": "url", "text": "text", "title": "headline"},
                "limit": 60,
            },
            {"name": "broken", "format": "jsonl", "path": str(broken)},
            {"name": "now", "format": "now", "path": str(now_root)},
        ],
        "filters": {"language": {"languages": ["en"], "min_score": 0.5}, "min_words": 5},
        "balance": {"by": "continent", "method": "none", "eval_fraction": 0.2, "seed": 1},
        "executor": {"type": "local", "tasks": 2, "workers": 1},
        "_expected_broken": expected_broken,
    }


@pytest.fixture(scope="module")
def finished_run(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    raw = curate_config(shared_data, tmp / "out", tmp)
    raw.pop("_expected_broken")
    config = parse_config(raw)
    report = run_curation(config, show_progress=False)
    return config, report, tmp / "out"


def test_counts_reconcile_and_every_input_is_accounted_for(finished_run, shared_data):
    config, report, out = finished_run
    rec = report["reconcile"]
    assert rec["ok"] and rec["input"] == rec["kept"] + rec["excluded"]
    assert report["inputs"]["fundus"] == 258  # every fundus line counted as input
    assert report["inputs"]["masakhanews"] == 60
    kept_ids = pl.read_parquet(out / "data" / "*.parquet")["id"]
    excluded = pl.read_parquet(out / "exclusions" / "**" / "*.parquet")
    assert kept_ids.n_unique() == kept_ids.len()
    assert set(kept_ids).isdisjoint(set(excluded["id"]))
    assert kept_ids.len() + excluded.height == rec["input"]


def test_exclusions_carry_reasons_and_original_fields(finished_run):
    _, report, out = finished_run
    excluded = pl.read_parquet(out / "exclusions" / "**" / "*.parquet")
    reasons = dict(zip(*excluded.group_by("reason").len().sort("reason").to_dict().values()))
    assert reasons["relative_url"] == 60  # masakhanews BBC URLs are relative: not verifiable
    assert reasons["invalid_json"] >= 1 and reasons["invalid_utf8"] >= 1 and reasons["missing_text"] >= 1
    assert reasons["missing_source_row"] == 1  # the NOW fixture's orphan entry
    relative = excluded.filter(pl.col("reason") == "relative_url").row(0, named=True)
    assert relative["url"].startswith("/") and relative["text"] and relative["source_row"] is not None
    assert relative["stage"] == "verify_url"
    broken = excluded.filter(pl.col("reason") == "invalid_json").row(0, named=True)
    assert broken["source_file"].endswith("broken.jsonl") and broken["source_row"] is not None
    assert pq.read_schema(next((out / "exclusions").rglob("*.parquet"))).remove_metadata() == EXCLUSION_SCHEMA


def test_output_is_tagged_and_readable_by_polars_duckdb_and_datasets(finished_run, tmp_path):
    _, report, out = finished_run
    files = sorted((out / "data").glob("*.parquet"))
    assert {f.name.split("-")[0] for f in files} == {"train", "eval"}
    for f in files:
        assert pq.read_schema(f).remove_metadata() == CORPUS_SCHEMA
    frame = pl.read_parquet(files)
    assert frame["country"].null_count() == 0 and frame["continent"].null_count() == 0
    assert set(frame["tag_source"]) <= {"input", "registry", "cctld"}
    assert frame.filter(pl.col("id").str.starts_with("now/")).height >= 5  # NOW docs tagged from sources rows
    assert (frame["url_normalized"].str.starts_with("http")).all()
    n_duck = duckdb.sql(f"select count(*) from read_parquet('{out}/data/*.parquet')").fetchall()[0][0]
    assert n_duck == frame.height == report["reconcile"]["kept"]
    import datasets

    ds = datasets.load_dataset(
        "parquet",
        data_files={"train": str(out / "data/train-*.parquet"), "eval": str(out / "data/eval-*.parquet")},
        cache_dir=str(tmp_path / "hf"),
    )
    assert ds["train"].num_rows + ds["eval"].num_rows == frame.height
    assert set(ds["train"].column_names) == set(CORPUS_SCHEMA.names)
    # the same URL never lands in both splits
    by_split = frame.group_by("url_normalized").agg(pl.col("split").n_unique().alias("n"))
    assert by_split["n"].max() == 1


def test_the_tag_stage_stores_minhash_digests_and_finalize_pairs_by_them(finished_run):
    """Every tagged row carries its text's MinHash digests; the corpus does not; the report's cross-split
    pairs are those signed from the output's texts."""
    config, report, out = finished_run
    signer = Signer()
    tagged = pq.read_table(sorted((out / "stages" / "tagged").rglob("*.parquet")), columns=["text", MINHASH_DIGESTS])
    assert pq.read_schema(sorted((out / "stages" / "tagged").rglob("*.parquet"))[0]).remove_metadata() == TAGGED_SCHEMA
    stored = tagged.column(MINHASH_DIGESTS).to_pylist()
    assert stored == [signer.text_digests(t) for t in tagged.column("text").to_pylist()]
    assert sum(len(d) == signer.digest_bytes for d in stored) > 0.9 * len(stored)
    found = report["decontamination"]["cross_split"]
    expected = near_duplicate_pairs(config.layout.split_files("train"), config.layout.split_files("eval"))
    assert found["pairs"] == len(expected)
    assert found["examples"] == [{"eval": e, "train": t} for e, t in sorted(expected)[:10]]


def test_manifest_card_plots_and_stats_cli(finished_run):
    _, report, out = finished_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["reconcile"]["ok"]
    assert manifest["versions"]["datatrove"] and manifest["registry_version"]
    assert any(fp["input"] == "fundus" and fp["bytes"] > 0 for fp in manifest["inputs"])
    assert "reconciled" in (out / "README.md").read_text()
    result = CliRunner().invoke(app, ["stats", str(out), "--plots", str(out / "plots2")])
    assert result.exit_code == 0, result.output
    assert "Documents and tokens per country" in result.output
    pngs = sorted(p.name for p in (out / "plots2").glob("*.png"))
    assert "documents_per_country.png" in pngs and "exclusions.png" in pngs
    assert all((out / "plots2" / p).stat().st_size > 5000 for p in pngs)


def test_the_shuffle_scratch_is_removed_once_finalize_has_reconciled(finished_run):
    """The scatter files hold every kept row again (as large as the corpus): a finished run keeps none."""
    _, _, out = finished_run
    scratch = out / "stages" / "finalize" / "scatter"
    assert scratch.is_dir()  # the scatter stage ran here
    assert sorted(p.name for p in scratch.glob("*.arrow")) == []
    assert sorted(p.name for p in scratch.glob("*.json"))  # the indexes (small) are kept
    assert sorted((out / "data").glob("*.parquet"))  # and the shards it fed are there


def test_rerunning_a_finished_run_does_nothing(finished_run):
    config, report, out = finished_run
    data_files = sorted((out / "data").glob("*.parquet"))
    before = {f: f.stat().st_mtime_ns for f in data_files}
    again = run_curation(config, show_progress=False)
    assert again["reconcile"] == report["reconcile"]
    assert {f: f.stat().st_mtime_ns for f in data_files} == before


def test_slurm_and_ray_pipelines_are_built_and_validated(shared_data, tmp_path):
    from datatrove.executor import SlurmPipelineExecutor
    from datatrove.executor.ray import RayPipelineExecutor

    raw = curate_config(shared_data, tmp_path / "out", tmp_path)
    raw.pop("_expected_broken")
    raw["dedup"] = {"exact": True, "minhash": {"num_buckets": 4}}
    raw["executor"] = {"type": "slurm", "partition": "cpu", "tasks": 16, "time": "01:00:00"}
    slurm = parse_config(raw)
    stages = build_stages(slurm)
    assert [s.name for s in stages] == [
        "tag",
        "minhash_signatures",
        "minhash_buckets",
        "minhash_clusters",
        "minhash_syndication",
        "minhash_filter",
        "finalize_select",
        "finalize_scatter",
        "finalize_write",
        "finalize_cross_split",
        "finalize",
    ]
    executors = make_executors(slurm, stages)
    assert all(isinstance(e, SlurmPipelineExecutor) for e in executors)
    assert executors[0].tasks == 16 and executors[-1].tasks == 1 and executors[-1].depends is executors[-2]
    # finalize runs on many nodes: the scatter, write and cross-split stages are 16-task job arrays
    for executor, array in zip(executors[-5:], ("0-0", "0-15", "0-15", "0-15", "0-0")):
        script = executor.get_launch_file_contents(
            executor.get_sbatch_args(executor.tasks), "launch_pickled_pipeline x"
        )
        assert f"#SBATCH --array={array}\n" in script and "#SBATCH --partition=cpu\n" in script
        assert dill.loads(dill.dumps(executor.pipeline))[0].config.output == slurm.output
    raw["executor"] = {"type": "ray", "tasks": 8, "workers": 4}
    ray = parse_config(raw)
    executors = make_executors(ray, build_stages(ray))
    assert all(isinstance(e, RayPipelineExecutor) for e in executors)
    raw["executor"] = {"type": "slurm", "tasks": 4}
    with pytest.raises(ConfigError, match="executor.partition"):
        parse_config(raw)


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"filters": {"min_wordz": 3}}, "filters.min_wordz"),
        ({"filters": {"min_words": "many"}}, "filters.min_words"),
        ({"executor": {"type": "kubernetes"}}, "executor.type"),
        ({"tagging": {"precedence": ["input", "psychic"]}}, "tagging.precedence"),
        ({"balance": {"method": "magic"}}, "balance"),
        ({"inputs": [{"name": "x", "format": "jsonl", "path": "/no/such/file.jsonl", "bogus": 1}]}, "inputs[0]"),
    ],
)
def test_config_errors_name_the_bad_key(tmp_path, shared_data, patch, message):
    raw = curate_config(shared_data, tmp_path / "out", tmp_path)
    raw.pop("_expected_broken")
    for key, value in patch.items():
        raw[key] = value
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert message in str(info.value)


def test_cli_reports_config_errors_without_traceback(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"output": str(tmp_path / "o"), "inputs": [], "filterz": {}}))
    result = CliRunner().invoke(app, ["curate", str(cfg)])
    assert result.exit_code == 2
    assert "filterz" in result.output and "Traceback" not in result.output
