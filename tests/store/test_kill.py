"""The short form of ``benchmarks/kill_store.py``: library processes killed with SIGKILL in the middle of
an upsert, a delete and an index rebuild, each followed by the full check (nothing committed lost,
nothing half-applied, the index in agreement with the store)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import kill_store  # noqa: E402


def test_killed_writers_lose_nothing_committed_and_leave_a_consistent_store(tmp_path: Path) -> None:
    result = kill_store.run(kills=3, ops=["index", "delete", "reindex"], items=100, seed=1, directory=tmp_path,
                            driver="api")
    assert result["kills"] == 3 and result["failed_without_kill"] == 0, result
    assert result["lost"] == result["mixed"] == result["inconsistent"] == 0, result["round_details"]
