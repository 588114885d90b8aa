"""Where things live: the layout of a curation run folder, and the external real-data folder.

A run folder is read by curation, finalize, the report, the CLI and the trainer's shard discovery;
spelling its layout once here keeps them from drifting apart.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The corpus splits finalize writes, in output order; ``eval`` is the held-out split.
SPLITS = ("train", "eval")


@dataclass(frozen=True)
class RunLayout:
    """The parts of one curation run folder (``geocorpus curate`` writes it, everything else reads it)."""

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    # stage work folders
    @property
    def stages(self) -> Path:
        return self.root / "stages"

    @property
    def tagged(self) -> Path:
        """Tagged shards written by the tag stage (TAGGED_SCHEMA, no split yet)."""
        return self.stages / "tagged"

    @property
    def minhash_out(self) -> Path:
        return self.stages / "minhash"

    @property
    def minhash_work(self) -> Path:
        return self.stages / "minhash_work"

    @property
    def counts(self) -> Path:
        """Per-input, per-task document counts: what reconcile checks against."""
        return self.stages / "counts"

    @property
    def scratch(self) -> Path:
        return self.stages / "scratch"

    @property
    def finalize_work(self) -> Path:
        """Finalize's selection plan, shuffle scratch and the records of the files it wrote."""
        return self.stages / "finalize"

    # results
    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def exclusions(self) -> Path:
        return self.root / "exclusions"

    def exclusion_stage(self, stage: str) -> Path:
        return self.exclusions / stage

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def stage_logs(self, stage: str) -> Path:
        return self.logs / stage

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def report(self) -> Path:
        return self.root / "report.json"

    @property
    def card(self) -> Path:
        return self.root / "README.md"

    @property
    def task_record(self) -> Path:
        """Task count per stage of the run that wrote this folder (resume check)."""
        return self.root / "run_layout.json"

    def split_files(self, split: str) -> list[Path]:
        """The final shards of one split (``data/<split>-NNNNN.parquet``), in order."""
        return sorted(Path(p) for p in glob.glob(str(self.data / f"{split}-*.parquet")))

    def data_files(self) -> list[Path]:
        return sorted(self.data.glob("*.parquet")) if self.data.is_dir() else []

    @classmethod
    def of_corpus(cls, path: str | Path) -> RunLayout | None:
        """The run a path belongs to: a run folder or its ``data/`` folder; None for anything else."""
        p = Path(path)
        if (p / "data").is_dir():
            return cls(p)
        if p.name == "data" and p.is_dir():
            return cls(p.parent)
        return None


def shared_data_dir() -> Path | None:
    """The real-data folder (``$GEOCORPUS_SHARED``, else ``shared/data`` beside the repository), or None.

    Tests, benchmarks and the bundled default config read real data through this one function, so a
    user (or CI) can point it elsewhere without editing code.
    """
    env = os.environ.get("GEOCORPUS_SHARED")
    if env:  # an explicit setting wins; a wrong one is not silently replaced by a folder found elsewhere
        candidates = [Path(env)]
    else:
        candidates = [REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return None
