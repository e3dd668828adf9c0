"""The collection's hybrid search as a teacher for its dense encoder, and a label-free validation.

Keyword search often beats a pretrained encoder on a specialised corpus, and the fusion of both beats
each: the collection already holds a better ranker than its encoder. So for each query of a log (or each
pseudo-query made from the corpus, see :mod:`selfsim.tasks.pseudo_queries`) the current hybrid search
ranks the collection, and:

- its top results are pseudo-positives;
- results the dense model ranks high but the teacher ranks low are hard negatives
  (the dense model's own mistakes, as the teacher sees them);

and the encoder learns from ``(query, positive, hard negative)`` rows with an in-batch + hard-negative
contrastive loss (the ``pairs`` objective; Karpukhin et al. 2020, "Dense Passage Retrieval"; the teacher as
in Wang et al. 2022, "GPL", which uses a cross-encoder where we use the collection's own fusion), or by
regressing its score margin onto the teacher's (``margin_mse``; Hofstätter et al. 2020): each row carries the
teacher's margin from :func:`teacher_scores`.

The validation needs no labels either: held-out queries, their graded pseudo-relevant items the
teacher's top results, scored by nDCG@10 of a candidate encoder's dense ranking (and of the hybrid with
the candidate as its dense side) over each query's pool of teacher candidates. A candidate that does not
beat the base encoder on it is not used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from selfsim.config import SearchConfig
from selfsim.data.pair_files import Example
from selfsim.errors import ConfigError
from selfsim.tasks.search.fusion import reciprocal_rank_fusion, weighted_score_fusion
from selfsim.training.ranking import ndcg_at

Encode = Callable[[Sequence[str]], np.ndarray]  # texts -> unit vectors (N, D)
SELECT_ON = ("dense", "hybrid", "mean")
LOSSES = ("pairs", "margin_mse")
MIN_CLOZE = 4  # cloze queries below which the cloze validation says too little and the teacher's is used


@dataclass(frozen=True)
class TeacherConfig:
    """How the hybrid teacher makes training rows and the validation, and how a candidate is chosen.

    ``positives``: the teacher's top results taken as positives of a query. ``negatives``: hard negatives
    per positive, taken from the dense model's top ``negative_within`` among the items the teacher ranks
    below ``negative_after`` (a gap, so an unjudged relevant item ranked 2nd is not pushed away).
    ``holdout`` share of the queries (at most ``max_holdout``) is kept out of training to validate on;
    there the teacher's top ``judged_depth`` are graded relevant (3, 2, 1 ...) and each candidate ranks the
    teacher's top ``pool_depth``. ``mixes``: the shares of the adapted weights in the averages with the
    base weights to try (WiSE-FT; 1.0 is the adapted model itself). ``select_on``: which validation figure
    chooses (``dense``, ``hybrid`` or their ``mean``); the chosen candidate must beat the base by more than
    ``min_gain`` or the base is kept. ``pseudo_queries``: how many to make from the corpus without a log;
    ``log_pseudo_queries``: how many to add to a log's training queries (the validation stays the log's own).
    ``keyword_miss_repeat``: rows whose positive the keyword signal ranked below ``keyword_miss_rank`` (or not at
    all) are repeated this many times, so the dense side learns most where it complements keyword search.
    ``loss``: the objective the rows train with: ``pairs`` (in-batch + hard-negative contrastive) or
    ``margin_mse`` (the student's margin ``cos(q, p) - cos(q, n)`` regressed onto the teacher's, see
    :func:`teacher_scores`; the objective option ``contrastive_weight`` adds the in-batch loss).
    ``validation``: ``teacher`` (held-out queries judged by the teacher's top results) or ``cloze`` (held-out
    inverse-cloze queries from the items, whose answer is known: the item the sentence was taken from, with the
    sentence removed; judged by the dense ranking only, and every log query trains; the default). The teacher's
    judgements include the base model's own dense ranking, which favours the base (on SciFact it rejected an
    adapted model that was better on judged queries); the cloze judgement does not. A collection with fewer than
    ``MIN_CLOZE`` items of three or more sentences is validated by the teacher instead.
    """

    positives: int = 1
    negatives: int = 1
    negative_after: int = 5
    negative_within: int = 20
    holdout: float = 0.2
    max_holdout: int = 100
    judged_depth: int = 3
    pool_depth: int = 20
    mixes: tuple[float, ...] = (1.0, 0.75, 0.5)
    select_on: str = "dense"
    min_gain: float = 0.0
    pseudo_queries: int = 1000
    log_pseudo_queries: int = 0
    keyword_miss_repeat: int = 1
    keyword_miss_rank: int = 10
    validation: str = "cloze"
    loss: str = "pairs"
    search: SearchConfig = field(default_factory=SearchConfig)

    def __post_init__(self) -> None:
        if self.positives < 1 or self.negatives < 0 or self.judged_depth < 1:
            raise ConfigError("the teacher needs at least one positive and one judged result per query, and "
                              "zero or more negatives.")
        if self.negative_after < self.positives or self.negative_within < 1:
            raise ConfigError("hard negatives must come from below the positives (negative_after >= positives).")
        if not 0.0 < self.holdout < 1.0:
            raise ConfigError(f"holdout is a share of the queries between 0 and 1, not {self.holdout}.")
        if not self.mixes or any(not 0.0 <= m <= 1.0 for m in self.mixes):
            raise ConfigError("mixes are shares of the adapted weights between 0 and 1, e.g. 1.0,0.75,0.5.")
        if self.validation not in ("teacher", "cloze"):
            raise ConfigError(f"validation must be 'teacher' or 'cloze', not {self.validation!r}.")
        if self.loss not in LOSSES:
            raise ConfigError(f"the teacher's loss must be one of {', '.join(LOSSES)}, not {self.loss!r}.")
        if self.loss == "margin_mse" and self.negatives < 1:
            raise ConfigError("margin_mse learns from the margin between a positive and a negative; give "
                              "negatives >= 1.")
        if self.select_on not in SELECT_ON:
            raise ConfigError(f"select_on must be one of {', '.join(SELECT_ON)}, not {self.select_on!r}.")
        if self.pool_depth < self.judged_depth:
            raise ConfigError("pool_depth must be at least judged_depth.")


@dataclass(frozen=True)
class TeacherHit:
    """One result of the teacher: the item id, the passage that matched, where each signal ranked it and the
    dense score (cosine) it gave (None where a signal did not find it)."""

    id: str
    text: str
    dense_rank: int | None
    keyword_rank: int | None
    keyword_score: float | None
    dense_score: float | None = None


def teacher_scores(ranking: Sequence[TeacherHit], dense_weight: float = 0.5) -> np.ndarray:
    """The teacher's score of each hit of one query's ranking, on the scale of that query's dense cosines.

    The hybrid search ranks by fusing ranks (RRF), which gives no usable margins, so the teacher's scores are
    made from the two signals' own scores: each is z-scored over the query's teacher list (a hit a signal did
    not find gets that signal's lowest score in the list: it ranked below all of them), the two are averaged
    with the search's ``dense_weight``, and the result is mapped back onto the dense cosines' mean and spread
    for that query, ``mean_d + std_d * (w * z_dense + (1 - w) * z_keyword)``. Margins between two hits are then
    in the units of the student's cosine similarity (what ``margin_mse`` regresses onto), and where the
    keyword scores are a linear function of the dense ones (the signals agree) the target is the dense margin
    itself. ``(N,)`` float64.
    """
    def filled(values: list[float | None]) -> np.ndarray:
        known = [v for v in values if v is not None]
        floor = min(known) if known else 0.0
        return np.array([floor if v is None else v for v in values], dtype=np.float64)

    def z(values: np.ndarray) -> np.ndarray:
        spread = values.std()
        return (values - values.mean()) / spread if spread > 1e-12 else np.zeros_like(values)

    dense = filled([hit.dense_score for hit in ranking])
    keyword = filled([hit.keyword_score for hit in ranking])
    fused = dense_weight * z(dense) + (1.0 - dense_weight) * z(keyword)  # (N,)
    return dense.mean() + dense.std() * fused


def mine_examples(queries: Sequence[str], rankings: Sequence[Sequence[TeacherHit]],
                  config: TeacherConfig = TeacherConfig()) -> list[Example]:
    """``(query, positive, hard negative)`` rows (or ``(query, positive)`` with ``negatives=0``).

    The positives are the teacher's top ``positives``; for each, the hard negatives are the items the dense
    model ranks best among those the teacher ranks below ``negative_after`` (falling back to the teacher's
    next ranks when the dense model ranked none of them in its top ``negative_within``). A query whose
    ranking is too short to give a negative is skipped. Each triplet's label is the teacher's margin
    ``t(q, positive) - t(q, negative)`` (:func:`teacher_scores`), which ``margin_mse`` learns from and the
    contrastive loss ignores.
    """
    rows: list[Example] = []
    for query, ranking in zip(queries, rankings, strict=True):
        if len(ranking) < config.positives:
            continue
        scores = dict(zip((id(hit) for hit in ranking), teacher_scores(ranking, config.search.dense_weight).tolist(),
                          strict=True))
        below = ranking[config.negative_after:]
        hard = sorted((hit for hit in below if hit.dense_rank is not None and hit.dense_rank <= config.negative_within),
                      key=lambda hit: hit.dense_rank or 0)
        chosen = (hard + [hit for hit in below if hit not in hard])[:config.negatives]
        if len(chosen) < config.negatives:
            continue
        for positive in ranking[:config.positives]:
            missed = positive.keyword_rank is None or positive.keyword_rank > config.keyword_miss_rank
            for _ in range(config.keyword_miss_repeat if missed else 1):
                if not chosen:
                    rows.append(Example((query, positive.text)))
                for negative in chosen:
                    margin = round(scores[id(positive)] - scores[id(negative)], 6)
                    rows.append(Example((query, positive.text, negative.text), margin))
    return rows


def split_queries(queries: Sequence[str], holdout: float, max_holdout: int, seed: int) -> tuple[list[str], list[str]]:
    """``(training queries, held-out queries)``: a seeded ``holdout`` share (at most ``max_holdout``) held out."""
    if len(queries) < 4:
        raise ConfigError(f"adapting from queries needs at least 4 of them, not {len(queries)}; give a longer "
                          "query log or leave --queries out to make pseudo-queries from the collection.")
    order = np.random.default_rng([seed, 7]).permutation(len(queries))
    held = max(1, min(max_holdout, round(holdout * len(queries))))
    return [queries[i] for i in sorted(order[held:])], [queries[i] for i in sorted(order[:held])]


class LabelFreeValidation:
    """Held-out queries judged by the teacher: each query's graded pseudo-relevant items (the teacher's top
    ``judged_depth``) and its pool of candidates (the teacher's top ``pool_depth``, with their keyword ranks).

    :meth:`score` ranks each pool with a candidate encoder (its dense ranking, and that ranking fused with the
    keyword ranking as the collection's hybrid search fuses them) and averages nDCG@10 against the teacher.
    """

    def __init__(self, queries: Sequence[str], rankings: Sequence[Sequence[TeacherHit]],
                 config: TeacherConfig = TeacherConfig()) -> None:
        self.config = config
        self.queries: list[str] = []
        self.pools: list[list[TeacherHit]] = []
        self.judged: list[dict[str, float]] = []
        for query, ranking in zip(queries, rankings, strict=True):
            pool = list(ranking[:config.pool_depth])
            if len(pool) <= config.judged_depth:
                continue  # a pool the judged items fill says nothing about a ranking
            self.queries.append(query)
            self.pools.append(pool)
            top = pool[:config.judged_depth]
            self.judged.append({hit.id: float(len(top) - rank) for rank, hit in enumerate(top)})
        if not self.queries:
            raise ConfigError("no held-out query found enough results to validate on; give more queries or "
                              "add more items.")
        self.texts = sorted({hit.text for pool in self.pools for hit in pool})

    @classmethod
    def from_cloze(cls, cloze: Sequence[tuple[str, str, str]], rankings: Sequence[Sequence[TeacherHit]],
                   config: TeacherConfig = TeacherConfig()) -> LabelFreeValidation:
        """Inverse-cloze queries ``(item id, sentence, item text without it)`` (see
        :func:`selfsim.tasks.pseudo_queries.cloze_queries`): each pool is the item (as given, its keyword rank
        unknown) among the teacher's other top results; the item is the one relevant answer. Scored on the
        dense ranking (the selected figure is always ``dense``)."""
        self = cls.__new__(cls)
        self.config = replace(config, select_on="dense")
        self.queries, self.pools, self.judged = [], [], []
        for (item_id, query, text), ranking in zip(cloze, rankings, strict=True):
            others = [hit for hit in ranking if hit.id != item_id][:config.pool_depth - 1]
            if len(others) < config.judged_depth:
                continue
            self.queries.append(query)
            self.pools.append([TeacherHit(item_id, text, None, None, None), *others])
            self.judged.append({item_id: 1.0})
        if not self.queries:
            raise ConfigError("no item has enough sentences to validate on with cloze queries; use the teacher "
                              "validation.")
        self.texts = sorted({hit.text for pool in self.pools for hit in pool})
        return self

    def __len__(self) -> int:
        return len(self.queries)

    def score(self, encode: Encode) -> dict[str, float]:
        """``{"teacher_ndcg@10": the selected figure, "dense": ..., "hybrid": ...}`` for the encoder behind
        ``encode``; the selected figure comes first, as early stopping reads the first."""
        query_vectors = np.asarray(encode(self.queries), dtype=np.float32)
        text_vectors = np.asarray(encode(self.texts), dtype=np.float32)
        at = {text: i for i, text in enumerate(self.texts)}
        search = self.config.search
        dense_scores, hybrid_scores = [], []
        for query_vector, pool, judged in zip(query_vectors, self.pools, self.judged, strict=True):
            similarity = text_vectors[[at[hit.text] for hit in pool]] @ query_vector  # (P,)
            order = np.argsort(-similarity, kind="stable")
            dense = [(pool[i].id, float(similarity[i])) for i in order]
            keyword = sorted(((hit.id, hit.keyword_score or 0.0, hit.keyword_rank) for hit in pool
                              if hit.keyword_rank is not None), key=lambda row: row[2])
            keyword_ranked = [(key, score) for key, score, _ in keyword]
            weights = (search.dense_weight, 1.0 - search.dense_weight)
            if search.fusion == "rrf":
                fused = reciprocal_rank_fusion([dense, keyword_ranked], weights, search.rrf_k)
            else:
                fused = weighted_score_fusion([dense, keyword_ranked], weights)
            dense_scores.append(ndcg_at([key for key, _ in dense], judged, 10))
            hybrid_scores.append(ndcg_at([str(key) for key, _ in fused], judged, 10))
        figures = {"dense": float(np.mean(dense_scores)), "hybrid": float(np.mean(hybrid_scores))}
        figures["mean"] = (figures["dense"] + figures["hybrid"]) / 2
        return {"teacher_ndcg@10": round(figures[self.config.select_on], 5),
                **{k: round(v, 5) for k, v in figures.items()}}


@dataclass(frozen=True)
class Candidate:
    """One model tried: its share of adapted weights, its directory and its validation figures."""

    mix: float
    model_dir: str
    validation: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"mix": self.mix, "model_dir": self.model_dir, "validation": self.validation}


@dataclass(frozen=True)
class Verdict:
    """What the label-free validation decided: the base's figures, every candidate's, the chosen one (None when
    no candidate beat the base: the collection keeps its encoder) and how many queries it rested on."""

    base: dict[str, float]
    candidates: list[Candidate]
    chosen: Candidate | None
    select_on: str
    validation_queries: int
    training_queries: int
    training_rows: int
    query_source: str
    validation: str = "teacher"

    @property
    def accepted(self) -> bool:
        """Whether the adapted model replaced the base."""
        return self.chosen is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"accepted": self.accepted, "validation": self.validation, "select_on": self.select_on,
                "base": self.base,
                "chosen": self.chosen.to_dict() if self.chosen else None,
                "candidates": [c.to_dict() for c in self.candidates],
                "validation_queries": self.validation_queries, "training_queries": self.training_queries,
                "training_rows": self.training_rows, "query_source": self.query_source}


def choose(base: dict[str, float], candidates: Sequence[Candidate], min_gain: float = 0.0) -> Candidate | None:
    """The candidate with the best selected figure if it beats the base's by more than ``min_gain``, else None;
    ties go to the candidate with less of the adapted weights (closer to the base)."""
    if not candidates:
        return None
    best = max(candidates, key=lambda c: (c.validation["teacher_ndcg@10"], -c.mix))
    return best if best.validation["teacher_ndcg@10"] > base["teacher_ndcg@10"] + min_gain else None
