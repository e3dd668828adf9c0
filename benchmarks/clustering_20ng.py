"""Clustering 20 Newsgroups (train, 11,314 posts, 20 labels): the embedding pipeline against LDA and LSA.

Every method sees the same texts: each post cleaned by ``selfsim.data.posts.clean_post`` (headers
dropped except Subject/Keywords/Summary, quoted replies, attribution lines and signatures removed),
and clusters them into k = 20. Scores: V-measure, NMI, ARI against the newsgroup labels, NPMI
coherence (selfsim boolean 10-token windows over the same cleaned texts, top 10 words) and topic diversity (top 25).

One vector per post: the encoder reads the first ``--max-words`` words of the cleaned post (it
truncates at 256 word pieces). Vectors are cached in ``--cache`` so later runs skip the encoder.

``--defaults`` scores only the default pipeline (``TopicConfig()``, as ``selfsim eval clustering
--clean-posts`` builds it); ``--split test`` reads ``20ng/test.jsonl.gz`` when it is there (choose
settings on train, then score test once); ``--sweep`` runs the UMAP settings and clusterers compared
when the default was chosen (issue 17).

The baselines get a grid over their main settings (printed, all results kept in the JSON) and the
best by V-measure is reported; the embedding pipelines are a short list of stage combinations,
also all reported. Selecting by V-measure on the evaluation labels flatters every method equally;
the JSON says which setting won.

    python benchmarks/clustering_20ng.py [DATA_DIR] [--split train|test] [--defaults | --sweep] [--seeds N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, RESULTS, write_result  # noqa: E402

from selfsim.data.posts import PostCleaning, clean_post  # noqa: E402
from selfsim.evaluation.clustering import (  # noqa: E402
    LabelledTexts,
    evaluate_baseline,
    evaluate_clustering,
    evaluate_embedding,
)
from selfsim.tasks.topics.baselines import BASELINE_VOCABULARY, LDATopics, LSATopics  # noqa: E402
from selfsim.tasks.topics.keywords import VocabularyConfig  # noqa: E402
from selfsim.tasks.topics.model import TopicConfig  # noqa: E402
from selfsim.tasks.topics.reduce import NoReduction, PCAReduction, UMAPReduction  # noqa: E402

CACHE = Path("/tmp/selfsim_cache/20ng_clean_first.npy")


def load(data_dir: Path, split: str = "train") -> tuple[list[str], list[str], list[str]]:
    """ids, raw texts and labels of a 20NG split (``train`` or ``test``)."""
    path = data_dir / "20ng" / f"{split}.jsonl.gz"
    if not path.is_file():
        sys.exit(f"{path} does not exist; the {split} split is not in {data_dir}.")
    rows = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    return [str(r["id"]) for r in rows], [r["text"] for r in rows], [r["label"] for r in rows]


def embed(texts: list[str], cache: Path, max_words: int) -> np.ndarray:
    """Vectors of the first ``max_words`` words of each text, cached on disk."""
    if cache.is_file():
        vectors = np.load(cache)
        if len(vectors) == len(texts):
            print(f"vectors from {cache}")
            return vectors
    from selfsim.registry import load_encoder

    encoder = load_encoder("all-MiniLM-L6-v2")
    started, done = time.perf_counter(), [0]

    def progress(n: int) -> None:
        done[0] += n
        print(f"  embedded {done[0]:,}/{len(texts):,} in {time.perf_counter() - started:.0f} s", flush=True)

    vectors = encoder.encode([" ".join(t.split(" ")[:max_words]) for t in texts], progress=progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    print(f"embedded {len(texts):,} texts in {time.perf_counter() - started:.0f} s -> {cache}")
    return vectors


REDUCTIONS = {  # each computed once and shared by the clusterers that follow it
    "none": lambda seed: NoReduction(),
    "pca50": lambda seed: PCAReduction(50, seed=seed),
    "umap5": lambda seed: UMAPReduction(5, n_neighbors=15, min_dist=0.0, seed=seed),
    # the sweep of issue 17 (choosing the default on train): more neighbours, more dimensions, PCA first
    "umap5-nn30": lambda seed: UMAPReduction(5, n_neighbors=30, min_dist=0.0, seed=seed),
    "umap5-nn50": lambda seed: UMAPReduction(5, n_neighbors=50, min_dist=0.0, seed=seed),
    "umap10": lambda seed: UMAPReduction(10, n_neighbors=15, min_dist=0.0, seed=seed),
    "umap5-pca50": lambda seed: UMAPReduction(5, n_neighbors=15, min_dist=0.0, pca_first=50, seed=seed),
}
CLUSTERERS = {  # k is 20 for all but HDBSCAN, which picks its own number and leaves noise out
    "kmeans": TopicConfig(reduce="none", cluster="kmeans"),
    "gmm": TopicConfig(reduce="none", cluster="gmm"),
    "gmm-full": TopicConfig(reduce="none", cluster="gmm-full"),
    "agglomerative (ward)": TopicConfig(reduce="none", cluster="agglomerative"),
    "hdbscan": TopicConfig(reduce="none", cluster="hdbscan", min_cluster_size=40),
}
PIPELINES = [("none", "kmeans"), ("pca50", "kmeans"), ("pca50", "gmm"), ("pca50", "agglomerative (ward)"),
             ("umap5", "kmeans"), ("umap5", "gmm"), ("umap5", "agglomerative (ward)"), ("umap5", "hdbscan")]
SWEEP = [(reduction, clusterer) for reduction in ("umap5", "umap5-nn30", "umap5-nn50", "umap10", "umap5-pca50")
         for clusterer in ("kmeans", "gmm", "gmm-full", "agglomerative (ward)")]

LSA_GRID = [
    {"n_components": 100, "sublinear_tf": True, "vocabulary": BASELINE_VOCABULARY},
    {"n_components": 100, "sublinear_tf": False, "vocabulary": BASELINE_VOCABULARY},
    {"n_components": 200, "sublinear_tf": True, "vocabulary": BASELINE_VOCABULARY},
]

LDA_VOCABULARY = VocabularyConfig(stop_words="english", min_df=5, max_df=0.3, max_features=10_000)
LDA_GRID = [
    {"doc_topic_prior": None, "topic_word_prior": None, "learning_method": "online", "max_iter": 10,
     "vocabulary": VocabularyConfig(stop_words=None, min_df=1, max_df=1.0, max_features=None)},  # sklearn defaults
    {"doc_topic_prior": 0.1, "topic_word_prior": 0.01, "learning_method": "batch", "max_iter": 50,
     "vocabulary": LDA_VOCABULARY},
    {"doc_topic_prior": 0.05, "topic_word_prior": 0.1, "learning_method": "batch", "max_iter": 50,
     "vocabulary": LDA_VOCABULARY},
    {"doc_topic_prior": 1.0, "topic_word_prior": 0.01, "learning_method": "batch", "max_iter": 50,
     "vocabulary": LDA_VOCABULARY},  # a flat prior; Griffiths & Steyvers' 50/k is above scikit-learn's limit of 1
]


def save(name: str, max_words: int, results: dict[str, list[dict]], final: bool = False,
         split: str = "train", count: int = 11_314) -> None:
    """Write the JSON result (after every method, so an interrupted run keeps what it measured)."""
    previous = RESULTS / f"{name}.json"
    if previous.is_file():  # a run of some groups keeps the other groups' earlier results
        earlier = json.loads(previous.read_text()).get("results", {})
        results = {group: rows or earlier.get(group, []) for group, rows in results.items()}
    best = {group: max(rows, key=lambda r: r["v_measure"]) for group, rows in results.items() if rows}
    if final:
        print("\nbest by V-measure:")
        for group, row in best.items():
            print(f"  {group:9s} {row['method']}: V {100 * row['v_measure']:.2f}, NPMI {row.get('coherence')}")
    write_result(name, {
        "data": f"20 Newsgroups bydate {split} (../shared/data/20ng/{split}.jsonl.gz), {count:,} posts, 20 labels, "
                "k=20",
        "text": "clean_post: Subject/Keywords/Summary headers kept, other headers, quotes, attributions and "
                "signatures removed; the same texts for every method",
        "vectors": f"all-MiniLM-L6-v2 over the first {max_words} words of each cleaned post "
                   "(the encoder truncates at 256 word pieces)",
        "coherence": "NPMI, boolean 10-token sliding windows over the cleaned texts, top 10 words per topic"
                     " (selfsim method, not gensim c_npmi)",
        "targets": {"v_measure": ">= 65 for the embedding pipeline", "npmi": "embedding above LDA"},
        "reference": {"minilm_kmeans_full_posts": 60.98, "lsa_100d_kmeans": 48.59, "lda_sklearn_default_online": 20.59},
        "best": best, "results": results})


def transform_check(data: LabelledTexts, vectors: np.ndarray, seed: int, held_out: float = 0.2,
                    config: TopicConfig = TopicConfig()) -> dict:
    """Fit the default pipeline on most posts, then assign the held-out rest by the saved prototypes (as items
    indexed after ``cluster --write`` are); V-measure of both parts against the labels, and the outlier share."""
    from selfsim.evaluation.clustering import label_scores
    from selfsim.tasks.topics.model import fit_topics

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))
    cut = int(len(order) * (1 - held_out))
    fitted, new = np.sort(order[:cut]), np.sort(order[cut:])
    started = time.perf_counter()
    result = fit_topics(vectors[fitted], [data.texts[i] for i in fitted], [data.ids[i] for i in fitted],
                        TopicConfig(**{**config.__dict__, "k": 20, "seed": seed}), measure=False)
    seconds = time.perf_counter() - started
    assigned, _ = result.assigner().assign(vectors[new])
    truth = np.asarray(data.labels)
    ran = f"{result.config.reduce}+{result.config.cluster}"
    return {"method": f"transform: {ran} fitted on {len(fitted):,}, {len(new):,} posts assigned as new, seed {seed}",
            "pipeline": {"reduce": result.config.reduce, "cluster": result.config.cluster},
            "fitted": {k: round(v, 4) for k, v in label_scores(truth[fitted], result.model.labels_).items()},
            "assigned": {k: round(v, 4) for k, v in label_scores(truth[new], assigned).items()},
            "outlier_share": round(float((assigned < 0).mean()), 4),
            "v_measure": round(label_scores(truth[new], assigned)["v_measure"], 4), "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="train", help="train (choose settings here) or test (score once).")
    parser.add_argument("--cache", type=Path, default=None, help=f"Vector cache (default {CACHE}, per split).")
    parser.add_argument("--defaults", action="store_true", help="Score only the default pipeline, exactly as "
                                                                 "`selfsim eval clustering --clean-posts` runs it.")
    parser.add_argument("--transform", action="store_true", help="Fit the default pipeline on 80%% of the posts "
                                                                  "and give the other 20%% topics as new items are "
                                                                  "given them on ingest (nearest prototype).")
    parser.add_argument("--transform-reduce", default="auto", help="Reduction of the --transform fit.")
    parser.add_argument("--transform-cluster", default="auto", help="Clusterer of the --transform fit.")
    parser.add_argument("--sweep", action="store_true", help="Run the issue-17 sweep of UMAP settings and "
                                                              "clusterers instead of the standard pipelines.")
    parser.add_argument("--max-words", type=int, default=230)
    parser.add_argument("--embed-only", action="store_true", help="Compute and cache the vectors, then stop.")
    parser.add_argument("--only", choices=["embedding", "lsa", "lda"], nargs="*", default=None)
    parser.add_argument("--pipelines", nargs="*", default=None, help="Names (substrings) of pipelines to run.")
    parser.add_argument("--seeds", type=int, default=1, help="Seeds per embedding pipeline.")
    parser.add_argument("--first-seed", type=int, default=0, help="The first of the --seeds seeds.")
    parser.add_argument("--name", default="clustering_20ng")
    args = parser.parse_args()

    ids, raw, labels = load(args.data, args.split)
    texts = [clean_post(t, PostCleaning()) for t in raw]
    cache = args.cache or (CACHE if args.split == "train" else CACHE.with_name(f"20ng_{args.split}_clean_first.npy"))
    vectors = embed([clean_post(t, PostCleaning(max_words=args.max_words)) for t in raw], cache, args.max_words)
    if args.embed_only:
        return
    data = LabelledTexts(ids, texts, labels)
    wanted = set(args.only or ["embedding", "lsa", "lda"])
    results: dict[str, list[dict]] = {"embedding": [], "lsa": [], "lda": []}

    def show(group: str, scores) -> None:  # noqa: ANN001
        row = scores.to_dict()
        results[group].append(row)
        print(f"{group:9s} {row['method']:38s} V {100 * row['v_measure']:6.2f}  NMI {100 * row['nmi']:6.2f}  "
              f"ARI {100 * row['ari']:6.2f}  NPMI {row['coherence'] if row['coherence'] is not None else '-':>7}  "
              f"div {row['diversity']}  clusters {row['clusters']} noise {row['noise']}  {row['seconds']:.0f} s",
              flush=True)
        save(args.name, args.max_words, results, split=args.split, count=len(texts))

    if args.transform:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            row = transform_check(data, vectors, seed, config=TopicConfig(reduce=args.transform_reduce,
                                                                          cluster=args.transform_cluster))
            results["embedding"].append(row)
            print(f"transform seed {seed}: {row}", flush=True)
            save(args.name, args.max_words, results, split=args.split, count=len(texts))
        wanted = set()
    if args.defaults:  # the figure a user gets: TopicConfig() as the eval command builds it, k = 20 labels
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            scores = evaluate_clustering(data, vectors, TopicConfig(seed=seed), baselines=())[0]
            scores.method = f"defaults: {scores.method} seed {seed}"
            show("embedding", scores)
        wanted = set()
    if "embedding" in wanted:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            reduced: dict[str, tuple[np.ndarray, float]] = {}
            for reduction, clusterer in (SWEEP if args.sweep else PIPELINES):
                name = f"{reduction} + {clusterer}"
                if args.pipelines and not any(p in name for p in args.pipelines):
                    continue
                if reduction not in reduced:
                    started = time.perf_counter()
                    reduced[reduction] = (REDUCTIONS[reduction](seed).fit_transform(vectors),
                                          time.perf_counter() - started)
                    print(f"  reduction {reduction}: {reduced[reduction][1]:.0f} s", flush=True)
                points, reduce_seconds = reduced[reduction]
                config = TopicConfig(**{**CLUSTERERS[clusterer].__dict__, "k": 20, "seed": seed})
                scores = evaluate_embedding(data, points, config, f"{name} seed {seed}")
                scores.seconds += reduce_seconds
                scores.settings["reduce"] = reduction
                show("embedding", scores)
    if "lsa" in wanted:
        for grid in LSA_GRID:
            show("lsa", evaluate_baseline(data, LSATopics(20, **grid), f"lsa {grid['n_components']}d "
                                                                         f"sublinear={grid['sublinear_tf']}"))
    if "lda" in wanted:
        for grid in LDA_GRID:
            name = (f"lda a={grid['doc_topic_prior']} b={grid['topic_word_prior']} {grid['learning_method']} "
                    f"it={grid['max_iter']} min_df={grid['vocabulary'].min_df} max_df={grid['vocabulary'].max_df}")
            show("lda", evaluate_baseline(data, LDATopics(20, **grid), name))

    save(args.name, args.max_words, results, final=True, split=args.split, count=len(texts))

if __name__ == "__main__":
    main()
