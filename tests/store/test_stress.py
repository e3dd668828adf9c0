"""The short form of ``benchmarks/stress_store.py``: writers and a searcher in separate processes for a
few seconds, then the full check (no error, no lost or stale write, no ghost or duplicate vector)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import stress_store  # noqa: E402


def test_concurrent_writers_and_searchers_leave_a_consistent_store(tmp_path: Path) -> None:
    result = stress_store.run(writers=2, searchers=1, seconds=2.0, directory=tmp_path)
    assert result["errors"] == 0, result["error_samples"]
    check = result["check"]
    assert result["acknowledged_writes"] > 50 and result["searches"] > 50, result
    assert check["lost"] == check["stale"] == check["resurrected"] == 0, check
    assert check["index_on_open"]["agrees"] and check["saved_index"]["agrees"], check
    assert check["chunks_not_found_by_own_vector"] == 0 and not check["database_problems"]
    assert result["consistent"]
