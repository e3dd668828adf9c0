"""Tiny text encoders for training tests: a 2-layer BERT built from a config, word-level vocabulary.

Nothing is downloaded; the model is random, small (hidden size 32) and fast,
so objectives can run a few real steps in well under a second.
"""

from __future__ import annotations

import re
from pathlib import Path

TINY_TEXTS = [
    "The cat sat on the mat.", "A dog runs in the park.", "The sun is hot today.",
    "Birds fly over the sea.", "He reads a long book.", "She plays the old piano.",
    "Rain falls on the roof.", "The car is red and fast.", "We eat bread and cheese.",
    "Cells divide by mitosis.", "Proteins fold into shapes.", "Genes encode proteins in cells.",
]
TINY_DOCUMENTS = [
    "Cells divide by mitosis. The cell cycle has phases. Errors cause cancer in some cells.",
    "The dog runs in the park. It chases a red ball. The owner throws the ball again.",
    "Rain falls on the roof. The sea is cold today. Birds fly over the sea at dawn.",
    "She plays the old piano. The music is slow and sad. He reads a long book nearby.",
]


def _vocabulary() -> list[str]:
    words = sorted({w for t in TINY_TEXTS + TINY_DOCUMENTS for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    pieces = letters + [f"##{c}" for c in letters] + list(".,;:!?'\"()-")
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(words) | set(pieces))


def build_tiny_model(directory: Path) -> Path:
    """Write a tiny sentence-transformers model (2-layer BERT, mean pooling, normalised) to ``directory``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    raw = directory / "raw"
    raw.mkdir(parents=True)
    vocabulary = _vocabulary()
    (raw / "vocab.txt").write_text("\n".join(vocabulary) + "\n")
    BertTokenizerFast(vocab_file=str(raw / "vocab.txt"), do_lower_case=True).save_pretrained(str(raw))
    config = BertConfig(vocab_size=len(vocabulary), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.1,
                        attention_probs_dropout_prob=0.1)
    BertModel(config).save_pretrained(str(raw))
    transformer = Transformer(str(raw), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, Pooling(32, "mean"), Normalize()], device="cpu")
    target = directory / "model"
    model.save(str(target))
    return target
