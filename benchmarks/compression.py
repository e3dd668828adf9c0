"""Compressed vector indexes at equal bytes per vector: FAISS PQ, OPQ and scalar quantisation, and selfsim's
learned quantiser (:mod:`selfsim.objectives.vector_quantisation` searched by :mod:`selfsim.store.quantised`).

For each method and code size (16, 32, 48 bytes a vector; SQ8 and SQ4 cost 384 and 192 bytes and cannot go
lower): recall@10 against exact (Flat, inner product) search, from the codes alone and after re-scoring the
best R candidates exactly from the float vectors (R = 50, 100, 200); codebook perplexity (mean over
codebooks, of 256); reconstruction error (mean over vectors of ||x - x̂||², the vectors being unit length);
the bytes of the trained model itself (codebooks, rotation); train time, encode time and search time per
query (the queries searched as one batch, every method on one thread: FAISS's kernels, selfsim's lookup
tables in numpy; the re-ranking time adds the exact re-scoring of R = 100 to the search). Every index is
trained on the vectors it stores (on a sample of them for 1M), as an index in a collection would be. FAISS
PQ is ``PQ{M}np`` (``np``: without FAISS's polysemous re-ordering of the code ids, which only serves Hamming
pre-filtering and costs minutes of training; the codes' accuracy is the same), OPQ ``OPQ{M},PQ{M}np``.

Data:

(a) SciFact: the 5,183-document corpus (title + " " + text, as BEIR) cut into chunks by selfsim's default
    ChunkingConfig and embedded with all-MiniLM-L6-v2, the collection; the 809 SciFact train queries
    (queries.train.jsonl), embedded the same way, the queries. Embeddings are cached as .npy files under
    /tmp/selfsim-bench-cache/, keyed by a hash of the texts, so reruns skip the encoder (16 minutes on two
    busy cores the first time).
(b) 1M: there is no million-text corpus here, so the collection is 1,000,000 synthetic vectors sampled from a
    2,048-component full-covariance Gaussian mixture (k-means means, per-component covariances shrunk 10%
    toward their average variance) fitted to the real all-MiniLM-L6-v2 chunk vectors of the 100k-chunk
    collection in --collection but --million-queries (300) of them, re-normalised to unit length; the
    queries are those 300 real chunk vectors, held out from the fit. Quantisers train on a sample of
    --million-train (25,600: 100 a code) vectors of the collection (OPQ learns its rotation on 10,000 of
    them, to keep its training to minutes). How alike the synthetic and real sets are is printed: the
    queries' mean cosine to their 1st and 10th nearest neighbour among the real vectors and among as many
    synthetic ones (a mixture with few components spreads its samples and makes neighbours far apart).

The learned quantiser's form, rotation and training are chosen on a selection split that the reported
figures do not use: the SciFact documents split in two at random; quantisers are trained on the chunks of
one half, index the chunks of the other half (vectors they never saw, as when a collection grows after its
index was trained) and are queried with 300 chunks of the first half. The variant with the best mean
recall@10 from codes there is reported, and so is the best of the product form: a residual quantiser's
encoding costs M full-width nearest-code searches a vector (M times the product form's), and its codebooks
take M x 256 x 384 floats (18.9 MB at 48 bytes, more than SciFact's float vectors). At 1M only product-form
variants run unless --million-residual is given: encoding a million vectors in residual form at 48 bytes
takes about five minutes on one core, which would take the 1M run well past ten minutes.

    python benchmarks/compression.py [DATA_DIR] [--collection /tmp/selfsim-load-100k] [--million 1000000]
        [--bytes 16 32 48] [--million-bytes 16 48]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, limit_threads, machine, write_result  # noqa: E402

from selfsim.objectives.vector_quantisation import VQConfig, fit_quantiser, perplexity  # noqa: E402
from selfsim.store.quantised import QuantisedIndex  # noqa: E402

CACHE = Path("/tmp/selfsim-bench-cache")
K = 10
RERANKS = (50, 100, 200)
MAIN_RERANK = 100
TARGET_BYTES, TARGET_RECALL = 48, 0.90
# The learned variants compared on the selection split (one is reported).
VARIANTS = {
    "product": VQConfig(transform="none"),
    "product + procrustes rotation": VQConfig(transform="procrustes"),
    "product + gradient rotation": VQConfig(transform="gradient"),
    "product + procrustes rotation, k-means only": VQConfig(transform="procrustes", epochs=0),
    "residual": VQConfig(form="residual", transform="none"),
}


# -- data -------------------------------------------------------------------------------------------------


def scifact_texts(data: Path) -> tuple[list[str], list[str], list[str]]:
    """``(document ids, chunk texts, query texts)``: the SciFact corpus (title + " " + text) cut by selfsim's
    default :class:`~selfsim.config.ChunkingConfig` (one document id per chunk), and the train queries."""
    from selfsim.config import ChunkingConfig
    from selfsim.data.chunking import chunk_text

    chunking = ChunkingConfig()
    documents, texts = [], []
    with (data / "scifact" / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            document = json.loads(line)
            for chunk in chunk_text(f"{document['title']} {document['text']}".strip(), chunking):
                documents.append(document["_id"])
                texts.append(chunk.text)
    with (data / "scifact" / "queries.train.jsonl").open(encoding="utf-8") as handle:
        queries = [json.loads(line)["text"] for line in handle if line.strip()]
    return documents, texts, queries


def embed_cached(texts: list[str], encoder_name: str = "all-MiniLM-L6-v2") -> np.ndarray:
    """Unit vectors of ``texts`` by the encoder, cached in :data:`CACHE` as a .npy keyed by the texts' hash."""
    digest = hashlib.sha256("\x00".join([encoder_name, *texts]).encode("utf-8")).hexdigest()[:20]
    path = CACHE / f"{encoder_name}-{len(texts)}-{digest}.npy"
    if path.exists():
        return np.load(path)
    from selfsim.app import load_encoder

    started = time.perf_counter()
    vectors = load_encoder(encoder_name).encode(texts, batch_size=64).astype(np.float32)
    print(f"embedded {len(texts):,} texts in {time.perf_counter() - started:.0f} s; cached in {path}", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def real_vectors(collection: Path) -> np.ndarray:
    """Every stored chunk vector of the collection, through the store's public API."""
    from selfsim.app import Collection

    with Collection.open(collection) as opened:
        return np.concatenate([batch.vectors for batch in opened.store.vectors()]).astype(np.float32)


def gaussian_mixture_sample(real: np.ndarray, size: int, components: int = 2048, shrink: float = 0.1,
                            seed: int = 0) -> np.ndarray:
    """``size`` unit vectors sampled from a full-covariance Gaussian mixture fitted to ``real``: k-means means,
    each component's covariance shrunk by ``shrink`` toward its mean variance, weights = shares of points."""
    rng = np.random.default_rng(seed)
    dim = real.shape[1]
    kmeans = faiss.Kmeans(dim, components, niter=10, seed=seed, max_points_per_centroid=len(real))
    kmeans.train(real)
    labels = kmeans.index.search(real, 1)[1][:, 0]
    counts = rng.multinomial(size, np.bincount(labels, minlength=components) / len(real))
    output = np.empty((size, dim), dtype=np.float32)
    position = 0
    for component in range(components):
        members = real[labels == component].astype(np.float64)
        if counts[component] == 0 or len(members) < 2:
            continue
        covariance = np.cov(members, rowvar=False)
        covariance = (1 - shrink) * covariance + shrink * np.trace(covariance) / dim * np.eye(dim)
        factor = np.linalg.cholesky(covariance).astype(np.float32)
        for start in range(0, counts[component], 100_000):
            n = min(100_000, counts[component] - start)
            noise = rng.standard_normal((n, dim), dtype=np.float32)
            output[position:position + n] = noise @ factor.T + members.mean(axis=0).astype(np.float32)
            position += n
    output = output[:position]
    output /= np.linalg.norm(output, axis=1, keepdims=True)
    return output[rng.permutation(len(output))]


# -- measuring --------------------------------------------------------------------------------------------


def exact_top(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The exact top ``k`` rows of ``base`` by inner product for each query (FAISS Flat)."""
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    return index.search(queries, k)[1]


def neighbour_cosines(base: np.ndarray, queries: np.ndarray) -> list[float]:
    """The queries' mean cosine to their 1st and 10th nearest row of ``base``."""
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    scores = index.search(queries, 10)[0]
    return [round(float(scores[:, 0].mean()), 4), round(float(scores[:, 9].mean()), 4)]


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact top ``k`` found in each row of ``found``."""
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found.tolist(), exact.tolist(), strict=True)]))


def rerank(candidates: np.ndarray, base: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """The top ``k`` of each row of candidate rows (best first by code; -1 for none) by exact inner product."""
    rows = np.where(candidates < 0, 0, candidates)
    scores = np.einsum("qcd,qd->qc", base[rows], queries)
    scores[candidates < 0] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(candidates, order, axis=1)


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def measure_faiss(spec: str, base: np.ndarray, train: np.ndarray, queries: np.ndarray,
                  exact: np.ndarray) -> dict[str, Any]:
    """Train, fill and search the FAISS index ``spec`` (inner product); recall raw and re-ranked, and costs."""
    index = faiss.index_factory(base.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
    if spec.startswith("OPQ"):
        faiss.downcast_VectorTransform(faiss.downcast_index(index).chain.at(0)).max_train_points = 10_000
    _, train_s = timed(lambda: index.train(train))
    model_bytes = len(faiss.serialize_index(index))  # trained, still empty: the codebooks (and rotation)
    _, add_s = timed(lambda: index.add(base))
    (_, candidates), search_s = timed(lambda: index.search(queries, max(RERANKS)))  # best first by code
    _, rescore_s = timed(lambda: rerank(candidates[:, :MAIN_RERANK], base, queries))
    sample = base[:20_000]
    codes = index.sa_encode(sample)
    mse = float(((sample - index.sa_decode(codes)) ** 2).sum(axis=1).mean())
    codebook_perplexity = None
    if "PQ" in spec:  # one byte per sub-quantiser: the codes are the code ids
        codebook_perplexity = round(float(perplexity(codes, 256).mean()), 1)
    return _row(spec.replace("np", ""), index.sa_code_size(), model_bytes, candidates, base, queries, exact,
                codebook_perplexity, mse, train_s, add_s, search_s, search_s + rescore_s)


def measure_learned(name: str, config: VQConfig, train: np.ndarray, base: np.ndarray, queries: np.ndarray,
                    exact: np.ndarray) -> dict[str, Any]:
    """Train selfsim's quantiser on ``train``, index ``base`` in a QuantisedIndex and search it."""
    (quantiser, report), train_s = timed(lambda: fit_quantiser(train, config))
    index = QuantisedIndex(quantiser, vectors=base)  # row i of base is the vector of id i
    _, add_s = timed(lambda: index.add(np.arange(len(base)), base))
    (_, candidates), search_s = timed(lambda: index.candidates(queries, max(RERANKS)))  # best first by code
    _, rerank_s = timed(lambda: index.search(queries, K, rerank=MAIN_RERANK))
    sample = np.arange(min(len(base), 20_000))
    mse = float(quantiser.reconstruction_error(base[sample], index.codes[sample]).mean())
    usage = round(float(quantiser.perplexity(index.codes).mean()), 1)
    memory = index.memory()
    row = _row(name, config.bytes_per_vector, memory["quantiser_bytes"], candidates, base, queries, exact, usage,
               mse, train_s, add_s, search_s, rerank_s)
    row["fit"] = {"restarts": report.restarts, "losses": report.losses, "memory": memory}
    return row


def _row(method: str, code_bytes: int, model_bytes: int, candidates: np.ndarray, base: np.ndarray,
         queries: np.ndarray, exact: np.ndarray, codebook_perplexity: float | None, mse: float, train_s: float,
         add_s: float, search_s: float, rerank_s: float) -> dict[str, Any]:
    Q = len(queries)
    reranked = {str(r): round(recall(rerank(candidates[:, :r], base, queries), exact), 4) for r in RERANKS}
    return {"method": method, "bytes_per_vector": int(code_bytes), "model_bytes": int(model_bytes),
            "recall@10": round(recall(candidates[:, :K], exact), 4),
            "recall@10_reranked": reranked, "perplexity": codebook_perplexity, "mse": round(mse, 5),
            "train_s": round(train_s, 2), "encode_us_per_vector": round(add_s / len(base) * 1e6, 2),
            "search_ms_per_query": round(search_s / Q * 1e3, 3),
            f"search_rerank{MAIN_RERANK}_ms_per_query": round(rerank_s / Q * 1e3, 3)}


def compare(base: np.ndarray, train: np.ndarray, queries: np.ndarray, code_bytes: list[int], learned: list[str],
            label: str) -> list[dict[str, Any]]:
    """Every method at every code size on one data set, printed as it goes."""
    exact = exact_top(base, queries, K)
    rows = []
    specs = [(f"PQ{b}np", b) for b in code_bytes] + [(f"OPQ{b},PQ{b}np", b) for b in code_bytes]
    specs += [("SQ4", 192), ("SQ8", 384)]
    for spec, _ in sorted(specs, key=lambda s: s[1]):
        rows.append(measure_faiss(spec, base, train, queries, exact))
        _print(label, rows[-1])
    for name in learned:
        for b in code_bytes:
            config = replace(VARIANTS[name], codebooks=b)
            rows.append(measure_learned(f"selfsim VQ {name} {b}", config, train, base, queries, exact))
            _print(label, rows[-1])
    return rows


def _print(label: str, row: dict[str, Any]) -> None:
    reranked = " ".join(f"R{r}={v:.3f}" for r, v in row["recall@10_reranked"].items())
    usage = "-" if row["perplexity"] is None else f"{row['perplexity']:.1f}"
    print(f"[{label}] {row['method']:40s} {row['bytes_per_vector']:4d} B  model {row['model_bytes'] / 2**20:5.2f} MB  "
          f"recall@10 {row['recall@10']:.3f}  "
          f"re-ranked {reranked}  perplexity {usage:>5s}  mse {row['mse']:.4f}  train {row['train_s']:.1f} s  "
          f"encode {row['encode_us_per_vector']:.1f} us/vec  search {row['search_ms_per_query']:.2f} ms/q "
          f"(+rerank {row[f'search_rerank{MAIN_RERANK}_ms_per_query']:.2f})", flush=True)


def select_variant(vectors: np.ndarray, documents: list[str], code_bytes: list[int],
                   seed: int = 0) -> tuple[str, str, list[dict[str, Any]]]:
    """The learned variant with the best mean recall@10 from codes on the selection split (see the docstring),
    the best product-form one, and every variant's rows."""
    rng = np.random.default_rng(seed)
    names = sorted(set(documents))
    first = set(rng.permutation(names)[: len(names) // 2].tolist())
    in_first = np.array([d in first for d in documents])
    train, base = vectors[in_first], vectors[~in_first]
    queries = train[rng.choice(len(train), size=300, replace=False)]
    exact = exact_top(base, queries, K)
    rows = []
    for name, config in VARIANTS.items():
        for b in code_bytes:
            rows.append(measure_learned(name, replace(config, codebooks=b), train, base, queries, exact))
            _print("selection", rows[-1])
    scores = {name: float(np.mean([r["recall@10"] for r in rows if r["method"] == name])) for name in VARIANTS}
    chosen = max(scores, key=lambda name: scores[name])
    product = max((n for n in scores if VARIANTS[n].form == "product"), key=lambda name: scores[name])
    print(f"selection split: trained on {len(train):,} chunks, indexing the {len(base):,} chunks of the other "
          f"documents, 300 queries; mean recall@10 from codes: "
          f"{', '.join(f'{n} {v:.4f}' for n, v in scores.items())}; chosen: {chosen}, and of the product form "
          f"{product}", flush=True)
    return chosen, product, rows


def verdict(rows: list[dict[str, Any]], learned: list[str]) -> dict[str, Any]:
    """The issue's targets: recall@10 >= 0.90 after re-ranking at <= 48 bytes, and the learned quantiser at
    least matching FAISS PQ at equal bytes (recall@10 from codes, and after re-ranking R=100)."""
    best = max((r for r in rows if r["bytes_per_vector"] <= TARGET_BYTES),
               key=lambda r: r["recall@10_reranked"][str(MAIN_RERANK)])
    matches = {}
    for row in rows:
        if not row["method"].startswith("selfsim"):
            continue
        pq = next(r for r in rows if r["method"] == f"PQ{row['bytes_per_vector']}")
        matches[f"{row['method']}"] = {
            "raw": row["recall@10"] >= pq["recall@10"],
            "reranked": row["recall@10_reranked"][str(MAIN_RERANK)] >= pq["recall@10_reranked"][str(MAIN_RERANK)]}
    met = {}
    for name in learned:
        row = next((r for r in rows if r["method"] == f"selfsim VQ {name} {TARGET_BYTES}"), None)
        met[name] = None if row is None else row["recall@10_reranked"][str(MAIN_RERANK)] >= TARGET_RECALL
    return {"recall_target_met_by_learned_48B": met,
            "best_at_most_48B": {"method": best["method"], "recall@10_reranked": best["recall@10_reranked"]},
            "learned_at_least_pq": matches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collection", type=Path, default=Path("/tmp/selfsim-load-100k"),
                        help="a collection of real chunk vectors to fit the 1M set's mixture to")
    parser.add_argument("--bytes", type=int, nargs="+", default=[16, 32, 48])
    parser.add_argument("--million", type=int, default=1_000_000, help="size of the synthetic set (0: skip it)")
    parser.add_argument("--million-bytes", type=int, nargs="+", default=[16, 48])
    parser.add_argument("--million-queries", type=int, default=300)
    parser.add_argument("--million-train", type=int, default=25_600, help="training sample (100 per code)")
    parser.add_argument("--million-residual", action="store_true",
                        help="run the residual form at 1M too (its encoding costs M times the product form's)")
    args = parser.parse_args()
    started = time.perf_counter()
    limit_threads(1)  # one thread for every method: comparable, and steady on a shared machine
    torch.set_num_threads(1)
    print(f"machine: {json.dumps(machine())}", flush=True)

    documents, texts, query_texts = scifact_texts(args.data)
    vectors, queries = embed_cached(texts), embed_cached(query_texts)
    print(f"SciFact: {len(set(documents)):,} documents, {len(texts):,} chunks, {len(queries)} train queries",
          flush=True)
    chosen, product, selection = select_variant(vectors, documents, args.bytes)
    learned = list(dict.fromkeys([chosen, product]))
    scifact = compare(vectors, vectors, queries, args.bytes, learned, "scifact")
    result: dict[str, Any] = {
        "data": {"scifact": f"{args.data / 'scifact'}: {len(texts):,} chunks of {len(set(documents)):,} documents "
                            "(title + text, default ChunkingConfig), all-MiniLM-L6-v2; queries: the "
                            f"{len(queries)} SciFact train queries; indexes trained on the chunks they store"},
        "threads": 1,
        "selection": {"split": "trained on the chunks of half the SciFact documents, indexing the chunks of the "
                               "other half, 300 chunks of the first half as queries (not the reported split)",
                      "chosen": chosen, "chosen_product_form": product, "rows": selection,
                      "variants": {name: asdict(config) for name, config in VARIANTS.items()}},
        "k": K, "reranks": list(RERANKS), "scifact": scifact, "scifact_verdict": verdict(scifact, learned)}

    if args.million and args.collection.exists():
        real = real_vectors(args.collection)
        rng = np.random.default_rng(1)
        order = rng.permutation(len(real))
        held_out, fitted = real[order[:args.million_queries]], real[order[args.million_queries:]]
        base, generate_s = timed(lambda: gaussian_mixture_sample(fitted, args.million))
        likeness = {"real": neighbour_cosines(fitted, held_out), "synthetic": neighbour_cosines(base[:len(fitted)],
                                                                                             held_out)}
        print(f"queries' mean cosine to their 1st / 10th nearest neighbour among {len(fitted):,} vectors: "
              f"real {likeness['real']}, synthetic {likeness['synthetic']}", flush=True)
        description = (f"{len(base):,} synthetic vectors sampled from a 2,048-component full-covariance Gaussian "
                       f"mixture fitted to {len(fitted):,} real all-MiniLM-L6-v2 chunk vectors of {args.collection}, "
                       f"re-normalised to unit length; queries: the {len(held_out)} other real chunk vectors, held "
                       f"out from the fit; quantisers trained on a {args.million_train:,}-vector sample (OPQ's "
                       "rotation on 10,000 of them)")
        print(f"1M: {description} (generated in {generate_s:.0f} s)", flush=True)
        train = base[np.random.default_rng(2).choice(len(base), size=args.million_train, replace=False)]
        at_million = [n for n in learned if VARIANTS[n].form == "product" or args.million_residual]
        million = compare(base, train, held_out, args.million_bytes, at_million, "1M")
        result["data"]["million"] = description
        result["million_likeness"] = {"what": "the queries' mean cosine to their 1st and 10th nearest "
                                                      f"neighbour among {len(fitted):,} real / synthetic vectors",
                                      **likeness}
        result["million"] = million
        result["million_verdict"] = verdict(million, at_million)
    else:
        print(f"1M run skipped ({args.collection} missing or --million 0)")
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps({k: v for k, v in result.items() if k.endswith("verdict")}, indent=2))
    write_result("compression", result)


if __name__ == "__main__":
    main()
