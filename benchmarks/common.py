"""What every benchmark shares: the machine's description and writing a JSON result."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def machine() -> dict[str, Any]:
    """CPU, cores, memory, Python and key library versions."""
    import faiss
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "memory_gib": memory, "python": sys.version.split()[0],
            "torch": torch.__version__, "faiss": faiss.__version__, "torch_threads": torch.get_num_threads()}


def limit_threads(threads: int | None) -> None:
    """Cap FAISS (OpenMP) and BLAS threads for this process (children inherit it through the environment)."""
    if threads is None:
        return
    import faiss
    from threadpoolctl import threadpool_limits

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    faiss.omp_set_num_threads(threads)
    threadpool_limits(threads)


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write ``result`` (plus the date and the machine) to ``benchmarks/results/NAME.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": name, "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "machine": machine(), **result}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def json_ready(value: Any) -> Any:
    """``value`` with its tuples made lists, recursively (as ``json.dumps`` writes them), so results compare equal
    to what they read back as."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [json_ready(v) for v in value]
    return value
