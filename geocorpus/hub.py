"""Push a finished run to the Hugging Face Hub as a dataset repository, in one commit.

Why one ``create_commit`` with explicit operations instead of ``upload_folder``: a run folder also holds
stage scratch, logs, locks and exclusions; the operations name exactly what a dataset user needs (the
corpus shards, the card, the manifest, the report and plots), so nothing else leaks out, and they can be
inspected offline (:func:`commit_operations`) before anything is sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from geocorpus.paths import RunLayout

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo, CommitOperationAdd


class PushError(ValueError):
    """The folder is not a finished, reconciled run with a card: pushing it would publish a broken dataset."""


def files_to_push(out_dir: str | Path) -> list[Path]:
    """The run's publishable files: card, data shards, manifest, report and plots (checked first)."""
    layout = RunLayout(out_dir)
    if not layout.card.is_file():
        raise PushError(f"{out_dir}: no README.md dataset card; is it a finished geocorpus run?")
    if not layout.report.is_file():
        raise PushError(f"{out_dir}: no report.json; is it a finished geocorpus run?")
    reconcile = json.loads(layout.report.read_text()).get("reconcile", {})
    if not reconcile.get("ok"):
        raise PushError(f"{out_dir}: counts do not reconcile ({reconcile.get('line')}); refusing to push")
    data = layout.data_files()
    if not data:
        raise PushError(f"{out_dir}: no data/*.parquet files (the run kept no documents)")
    extra = [p for p in (layout.manifest, layout.report) if p.is_file()]
    plots = sorted(layout.plots.glob("*.png")) if layout.plots.is_dir() else []
    return [layout.card, *data, *extra, *plots]


def commit_operations(out_dir: str | Path) -> list[CommitOperationAdd]:
    """huggingface_hub's own operation objects for one commit of the run (paths relative to the run)."""
    from huggingface_hub import CommitOperationAdd

    root = Path(out_dir)
    return [
        CommitOperationAdd(path_in_repo=path.relative_to(root).as_posix(), path_or_fileobj=str(path))
        for path in files_to_push(root)
    ]


def push_to_hub(
    out_dir: str | Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
) -> CommitInfo:
    """Create the dataset repository if needed and commit the run's files to ``revision`` (default main)."""
    from huggingface_hub import HfApi

    operations = commit_operations(out_dir)
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision is not None:
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    return api.create_commit(
        repo_id,
        operations,
        commit_message=f"geocorpus: {len(operations)} files from {Path(out_dir).name}",
        repo_type="dataset",
        revision=revision,
    )
