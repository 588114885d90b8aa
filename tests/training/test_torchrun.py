"""Two real processes under torchrun (gloo, CPU): ranks read disjoint documents that cover the corpus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.tagged_corpus import synthetic_rows, write_tagged_corpus

REPO = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).parent / "torchrun"

RANK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch.distributed as dist
    from trainer_plugin.dataset import PackedDataset
    from trainer_plugin.loader import ResumableDataLoader
    from trainer_plugin.tokenizer import load_tokenizer

    if __name__ == "__main__":
        data, tokenizer_dir, out = sys.argv[1:4]
        dist.init_process_group("gloo")
        tokenizer = load_tokenizer(tokenizer_dir)
        dataset = PackedDataset(data, tokenizer, seq_len=64, epochs=1, seed=5)  # rank from torch.distributed
        ids = [d["id"] for worker in range(2) for d in dataset.documents(0, worker, 2)]
        eos = batches = 0
        for batch in ResumableDataLoader(dataset, batch_size=4, num_workers=2):
            eos += int((batch["input_ids"] == tokenizer.eos_token_id).sum())
            batches += 1
        rank = dist.get_rank()
        with open(f"{out}/rank{rank}.json", "w") as handle:
            json.dump({"rank": rank, "world": dist.get_world_size(), "ids": ids, "eos": eos, "batches": batches}, handle)
        dist.destroy_process_group()
    """
)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_torchrun_two_ranks_split_one_epoch_exactly(tmp_path, tiny_tokenizer_dir):
    rows = synthetic_rows(docs_per_country=9, words_per_doc=25)
    data = write_tagged_corpus(rows, tmp_path / "corpus", shards=3, row_group_size=10)
    script = tmp_path / "read_epoch.py"
    script.write_text(RANK_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [
        str(TORCHRUN),
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
        str(data),
        str(tiny_tokenizer_dir),
        str(tmp_path),
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]

    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["world"] for r in ranks] == [2, 2]
    seen = [set(r["ids"]) for r in ranks]
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == {row["id"] for row in rows}
    assert abs(len(seen[0]) - len(seen[1])) <= 1
    # the packed stream each rank trained on holds exactly its documents (one EOS each)
    assert [r["eos"] for r in ranks] == [len(s) for s in seen]
