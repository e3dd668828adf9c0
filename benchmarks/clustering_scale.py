"""How the topic pipeline scales: 100k synthetic items clustered, keyworded and measured, UMAP timed apart.

Items are 384-d unit vectors around 50 topic centres (two items of one topic have cosine ~0.5) with
30-word texts: 10 words from their topic's own 40-word vocabulary and 20 from a shared 5,000-word one.
The pipeline is :func:`selfsim.tasks.topics.model.fit_topics` with k = 50 given: PCA to 50 dimensions,
FAISS spherical k-means (5 restarts), c-TF-IDF keywords, representatives, and NPMI coherence,
diversity and silhouette on a sample. Also timed: the same with k chosen over 30:70:10 by
silhouette, and UMAP (5-d, the reduction that is not part of the 2-minute target) on its own.

    python benchmarks/clustering_scale.py [--items 100000] [--no-umap]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import limit_threads, write_result  # noqa: E402

from selfsim.tasks.topics.model import TopicConfig, fit_topics  # noqa: E402
from selfsim.tasks.topics.reduce import PCAReduction, UMAPReduction  # noqa: E402

DIM, TOPICS = 384, 50


def synthetic(count: int, seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Vectors, texts and true topics."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((TOPICS, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    topics = rng.integers(0, TOPICS, count)
    vectors = centres[topics] + rng.standard_normal((count, DIM), dtype=np.float32) / np.sqrt(DIM)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "su", "da", "fo", "gu", "hi", "ja"]
    def word(n: int) -> str:  # noqa: E306 - distinct pronounceable words, no digits
        letters = []
        while True:
            letters.append(syllables[n % len(syllables)])
            n //= len(syllables)
            if n == 0:
                return "".join(letters)
    own = [[word(10_000 + t * 40 + i) for i in range(40)] for t in range(TOPICS)]
    shared = [word(i) for i in range(5000)]
    texts = [" ".join(list(rng.choice(own[t], 10)) + list(rng.choice(shared, 20))) for t in topics]
    return vectors, texts, topics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--no-umap", action="store_true")
    parser.add_argument("--threads", type=int, default=None,
                        help="Limit FAISS and BLAS to this many threads (default: their own choice).")
    args = parser.parse_args()
    limit_threads(args.threads)
    from sklearn.metrics import v_measure_score

    started = time.perf_counter()
    vectors, texts, truth = synthetic(args.items)
    print(f"generated {args.items:,} items in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    result = fit_topics(vectors, texts, config=TopicConfig(reduce="pca", reduce_dims=50, k=TOPICS))
    given = time.perf_counter() - started
    v_given = v_measure_score(truth, result.model.labels_)
    print(f"k=50 given: {given:.1f} s  stages {({k: round(v, 1) for k, v in result.seconds.items()})}  "
          f"V-measure {100 * v_given:.2f}  NPMI {result.coherence:.3f}  diversity {result.diversity:.3f}", flush=True)

    started = time.perf_counter()
    auto = fit_topics(vectors, texts, config=TopicConfig(reduce="pca", reduce_dims=50, k_range=(30, 70, 10)),
                      measure=False)
    chosen = time.perf_counter() - started
    print(f"k chosen by silhouette over 30:70:10: {chosen:.1f} s, k = {auto.k}, scores "
          f"{ {k: round(v, 3) for k, v in auto.k_scores.items()} }", flush=True)

    umap_seconds = None
    if not args.no_umap:
        started = time.perf_counter()
        reduced = PCAReduction(50).fit_transform(vectors)
        UMAPReduction(5, metric="cosine").fit_transform(reduced)
        umap_seconds = time.perf_counter() - started
        print(f"UMAP to 5-d (after PCA 50): {umap_seconds:.1f} s", flush=True)

    write_result("clustering_scale", {
        "data": f"synthetic: {args.items:,} 384-d unit vectors around {TOPICS} topics, 30-word texts",
        "pipeline": "fit_topics: PCA 50 -> FAISS spherical k-means (5 restarts, 50 iterations) -> c-TF-IDF -> "
                    "representatives -> NPMI (selfsim boolean 10-token windows), diversity, silhouette (5k sample)",
        "target": "100k items in under 2 minutes without UMAP", "target_met": given < 120,
        "k_given": {"seconds": round(given, 1), "stages": {k: round(v, 2) for k, v in result.seconds.items()},
                    "v_measure": round(float(v_given), 4), "npmi": result.coherence, "diversity": result.diversity},
        "k_chosen": {"seconds": round(chosen, 1), "k": auto.k, "scores": auto.k_scores},
        "umap_seconds": None if umap_seconds is None else round(umap_seconds, 1), "threads": args.threads or "default",
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})


if __name__ == "__main__":
    main()
