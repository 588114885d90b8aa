"""Every finalize task refuses a task count other than the plan's, the write tasks included.

Why: a write task run with another count would write the output shards ``rank::world_size`` of the
wrong count: some shards twice, some never. Mutation testing showed that only the scatter task's
check was tested (``.ci/mutation.py finalize``).
"""

from __future__ import annotations

import pytest
from support.finalize_inputs import finalize_config, unique_fundus_rows, write_tagged_shards

from geocorpus.finalize.stage import scatter_task, select_task, write_task


def test_a_write_task_with_another_task_count_is_refused_and_writes_nothing(shared_data, tmp_path):
    tagged = write_tagged_shards(unique_fundus_rows(shared_data), tmp_path / "tagged", 2)
    config = finalize_config(tmp_path / "out", tmp_path, 2)
    select_task(config, tagged)
    for rank in range(2):
        scatter_task(config, rank, 2)
    for world_size in (1, 3):
        with pytest.raises(RuntimeError, match=f"runs with {world_size} tasks but the plan was made for 2"):
            write_task(config, 0, world_size)
    assert not list((tmp_path / "out" / "data").glob("*.parquet"))
    # the count of the plan writes
    for rank in range(2):
        write_task(config, rank, 2)
    assert list((tmp_path / "out" / "data").glob("*.parquet"))
