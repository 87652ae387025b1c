"""The local studio's job log: stamps never go back in the file's order (two writers stamp before appending)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sweep.local.store import append_log, read_log


def test_a_line_stamped_before_the_one_above_it_is_read_with_that_lines_stamp(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    # the worker took its stamp first but appended second (0.3 ms apart, as seen in the suite)
    path.write_text("2026-12-08T01:00:00.000500+00:00\tEpoch 1/2\n"
                    "2026-12-08T01:00:00.000200+00:00\tloss: 0.5\n"
                    "2026-12-08T01:00:01+00:00\tEpoch 2/2\n"
                    "\tno stamp\n", encoding="utf-8")
    append_log(path, "done")
    lines = read_log(path)
    assert [data for _, data in lines] == ["Epoch 1/2", "loss: 0.5", "Epoch 2/2", "no stamp", "done"]
    stamps = [datetime.fromisoformat(s) for s, _ in lines if s]
    assert stamps == sorted(stamps)
    assert lines[1][0] == lines[0][0]  # raised to the line above, not invented
    assert lines[3][0] == ""  # a line without a stamp keeps none (the route gives it the job's)
