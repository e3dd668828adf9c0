"""STS-B: average the weights of fine-tuned models (a model soup) and score each model and the soup on dev.

Takes model directories written by ``benchmarks/train_stsb.py`` (or ``selfsim train``), all fine-tuned
from the same base, averages their weights with ``selfsim.training.soup.average_models`` (equal shares
unless ``--weights``), and reports Spearman x100 on ``stsb/dev.tsv`` for every input model and for the
soup. Dev is the set the inputs' best checkpoints were selected on, so it is also the reported set, as
in train_stsb.py.

Usage: python benchmarks/stsb_soup.py MODEL_DIR MODEL_DIR [...] [--data DATA_DIR] [--weights 1,1]
       [--name NAME]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import DEFAULT_DATA, limit_threads, write_result

TARGET = 90.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--weights", default=None, help="comma-separated shares, one per model (default equal)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="stsb_soup")
    args = parser.parse_args()
    limit_threads(args.threads)

    import torch

    torch.set_num_threads(args.threads)
    from selfsim.evaluation.sts import evaluate_sts, read_sts
    from selfsim.registry import load_encoder
    from selfsim.training.soup import average_models

    started = time.perf_counter()
    dev = read_sts(args.data / "stsb" / "dev.tsv")
    weights = None if args.weights is None else [float(w) for w in args.weights.split(",")]
    inputs = {}
    for directory in args.models:
        inputs[str(directory)] = round(evaluate_sts(load_encoder(str(directory)), dev).spearman, 2)
        print(f"{directory}: dev Spearman {inputs[str(directory)]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        soup = average_models(args.models, Path(scratch) / "soup", weights)
        scores = evaluate_sts(load_encoder(str(soup)), dev)
    print(f"soup of {len(args.models)} (weights {weights or 'equal'}): dev Spearman {scores.spearman:.2f} "
          f"(best input {max(inputs.values()):.2f}; target {TARGET})", flush=True)
    write_result(args.name, {
        "data": str(args.data / "stsb"), "split": "dev.tsv (also the set the inputs' checkpoints were selected on)",
        "models": inputs, "weights": weights or "equal", "soup_dev_spearman": round(scores.spearman, 2),
        "soup_dev_pearson": round(scores.pearson, 2), "best_input": max(inputs.values()),
        "target": TARGET, "meets_target": scores.spearman >= TARGET,
        "total_seconds": round(time.perf_counter() - started, 1)})


if __name__ == "__main__":
    main()
