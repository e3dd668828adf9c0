"""selfsim's NPMI coherence beside gensim's ``CoherenceModel(coherence="c_npmi")`` on a small seeded corpus.

Prints, per topic and overall, selfsim's boolean-window NPMI, selfsim's ``c_npmi`` (gensim's counting), and
gensim's own figure when gensim is installed (it is not a selfsim dependency; without it the script says so
and prints selfsim's figures only). The corpus repeats words inside windows, where the two countings differ.

    python benchmarks/coherence_gensim_check.py
"""

from __future__ import annotations

import numpy as np

from selfsim.tasks.topics.coherence import CoherenceConfig, c_npmi, npmi_coherence

WINDOW = 10
THEMES = [["apple", "banana", "cherry", "mango", "fruit"], ["engine", "wheel", "brake", "gearbox", "car"],
          ["python", "compiler", "bug", "function", "code"]]


def corpus(documents: int = 200, seed: int = 0) -> list[list[str]]:
    """Texts of 5 to 40 words, mostly from one theme (with repeats), some words from another, some filler."""
    rng = np.random.default_rng(seed)
    filler = ["report", "said", "today", "people", "thing", "week"]
    texts = []
    for _ in range(documents):
        main, other = rng.choice(len(THEMES), 2, replace=False)
        pool = THEMES[main] * 3 + THEMES[other] + filler * 2
        texts.append(list(rng.choice(pool, int(rng.integers(5, 41)))))
    return texts


def gensim_c_npmi(topics: list[list[str]], texts: list[list[str]]) -> list[float] | None:
    """gensim's per-topic c_npmi, or None when gensim is not installed."""
    try:
        from gensim.corpora import Dictionary
        from gensim.models.coherencemodel import CoherenceModel
    except ImportError:
        return None
    model = CoherenceModel(topics=topics, texts=texts, dictionary=Dictionary(texts), coherence="c_npmi",
                           window_size=WINDOW, topn=10, processes=1)
    return [float(v) for v in model.get_coherence_per_topic()]


def main() -> None:
    texts = corpus()
    topics = THEMES + [[theme[n] for theme in THEMES] for n in range(3)]  # three coherent, three mixed
    raw = [" ".join(text) for text in texts]
    boolean = npmi_coherence(topics, raw, CoherenceConfig(window=WINDOW))[1]
    ours = c_npmi(topics, texts, window=WINDOW)[1]
    theirs = gensim_c_npmi(topics, texts)
    print(f"{len(texts)} texts, window {WINDOW}, top 10 words; NPMI per topic")
    print(f"{'topic':<42} {'selfsim (boolean)':>17} {'selfsim c_npmi':>15} {'gensim c_npmi':>14}")
    for n, topic in enumerate(topics):
        gensim_value = "missing" if theirs is None else f"{theirs[n]:.6f}"
        print(f"{' '.join(topic):<42} {boolean[n]:>17.6f} {ours[n]:>15.6f} {gensim_value:>14}")
    gensim_mean = "missing" if theirs is None else f"{np.mean(theirs):.6f}"
    print(f"{'mean':<42} {np.mean(boolean):>17.6f} {np.mean(ours):>15.6f} {gensim_mean:>14}")
    if theirs is None:
        print("gensim is not installed: only selfsim's figures are shown (pip install gensim to compare).")
    else:
        print(f"largest |selfsim c_npmi - gensim c_npmi| over topics: {np.max(np.abs(np.subtract(ours, theirs))):.2e}")


if __name__ == "__main__":
    main()
