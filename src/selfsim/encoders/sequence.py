"""The sequence encoder: self-attention over a user's item history, read top to bottom.

Item embeddings plus learned positions go through ``blocks`` transformer
blocks (multi-head self-attention, LayerNorm, feed-forward, dropout); the
output at each position is the user's state after the items so far. With
``causal=True`` (SASRec, Kang & McAuley 2018) a position sees only itself and
earlier items, so the state predicts the *next* item; with ``causal=False``
(BERT4Rec, Sun et al. 2019) every position sees the whole history and a
``[mask]`` token at the end stands for the item to predict.

Scores are dot products between a state and the item embeddings (the input
embeddings, tied). Items may carry text embeddings (from the collection's
encoder): a linear map of the text is added to the item's own embedding, so an
item nobody has touched still has a meaningful vector (cold start).

Sequences are padded on the right with item 0. In causal mode a real position
never attends to the padding after it, so no padding mask is needed and padded
positions cost nothing but their own rows, which the objectives never score.

An artifact is a directory: ``config.json`` (with the library version) and
``model.safetensors``; :meth:`SequenceModel.save` / :meth:`SequenceModel.load`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from selfsim.errors import ConfigError, NotFoundError
from selfsim.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class SelfAttention(nn.Module):
    """Multi-head self-attention; causal, or bidirectional over the real (non-padding) positions."""

    def __init__(self, dim: int, heads: int, dropout: float, causal: bool) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"the model width {dim} must be a multiple of the number of heads {heads}.")
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.heads = heads
        self.dropout = dropout
        self.causal = causal
        self.out_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)  # 3 x (B, T, D)
        q, k, v = (t.view(B, T, self.heads, D // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, Dh)
        mask = None if self.causal else keep[:, None, None, :]  # (B, 1, 1, T): attend to real items only
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal,
                                           dropout_p=self.dropout if self.training else 0.0)  # (B, H, T, Dh)
        y = y.transpose(1, 2).contiguous().view(B, T, D)
        return self.out_dropout(self.out(y))


class FeedForward(nn.Module):
    """Position-wise two-layer network with GELU."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.up = nn.Linear(dim, hidden)
        self.down = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.gelu(self.up(x))))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attention(LN(x)), then x + feed-forward(LN(x))."""

    def __init__(self, dim: int, heads: int, hidden: int, dropout: float, causal: bool) -> None:
        super().__init__()
        self.norm_attention = nn.LayerNorm(dim)
        self.attention = SelfAttention(dim, heads, dropout, causal)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, hidden, dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attention(self.norm_attention(x), keep)
        return x + self.ffn(self.norm_ffn(x))


@dataclass(frozen=True)
class SequenceConfig:
    """The sequence encoder's shape. ``n_items`` items have ids 1..n_items; 0 is padding."""

    n_items: int
    max_length: int = 50
    dim: int = 64
    heads: int = 2
    blocks: int = 2
    ffn_multiplier: int = 4
    dropout: float = 0.5
    causal: bool = True
    text_dim: int = 0  # > 0: items carry text embeddings of this width, projected and added
    id_dropout: float = 0.0  # training only: share of items (with text) whose id embedding is dropped per step

    def __post_init__(self) -> None:
        if self.n_items < 1:
            raise ConfigError("the model needs at least one item; import interactions first.")
        if self.max_length < 2:
            raise ConfigError(f"max_length must be at least 2, not {self.max_length}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), not {self.dropout}.")

    @property
    def mask_token(self) -> int:
        """The id of the ``[mask]`` token (one past the last item)."""
        return self.n_items + 1


class SequenceModel(nn.Module):
    """Item histories -> a state per position; scores for every item by dot product with item vectors."""

    def __init__(self, config: SequenceConfig) -> None:
        super().__init__()
        self.config = config
        self.item_embedding = nn.Embedding(config.n_items + 2, config.dim, padding_idx=0)  # + padding, [mask]
        self.position_embedding = nn.Embedding(config.max_length, config.dim)
        self.embedding_norm = nn.LayerNorm(config.dim)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(config.dim, config.heads, config.ffn_multiplier * config.dim, config.dropout, config.causal)
            for _ in range(config.blocks))
        self.final_norm = nn.LayerNorm(config.dim)
        if config.text_dim:
            self.register_buffer("text_vectors", torch.zeros(config.n_items + 2, config.text_dim))
            self.register_buffer("has_text", torch.zeros(config.n_items + 2, dtype=torch.bool))
            self.text_projection = nn.Linear(config.text_dim, config.dim, bias=False)
        # Items the model may recommend; items never seen in training and without text stay out.
        self.register_buffer("item_known", torch.ones(config.n_items + 1, dtype=torch.bool))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()

    # -- item vectors --------------------------------------------------------------------------------

    def set_text_vectors(self, vectors: torch.Tensor | np.ndarray) -> None:
        """Text embeddings for items 0..n_items (row 0 and items without text are zeros)."""
        if not self.config.text_dim:
            raise ConfigError("this model was built without text_dim; build it with text_dim set to use item text.")
        vectors = torch.as_tensor(np.asarray(vectors), dtype=torch.float32)
        if vectors.shape != (self.config.n_items + 1, self.config.text_dim):
            raise ConfigError(f"expected text vectors of shape {(self.config.n_items + 1, self.config.text_dim)}, "
                              f"not {tuple(vectors.shape)}.")
        with torch.no_grad():
            self.text_vectors[: self.config.n_items + 1] = vectors
            self.has_text.copy_(self.text_vectors.abs().sum(1) > 0)

    def _id_keep(self, count: int) -> torch.Tensor | None:
        """(count, 1) 0/1 weights: in training, some items with text lose their id embedding for this step,
        so the model learns to recommend from text alone (DropoutNet, Volkovs et al. 2017)."""
        if not (self.training and self.config.text_dim and self.config.id_dropout > 0):
            return None
        drop = (torch.rand(count, device=self.has_text.device) < self.config.id_dropout) & self.has_text[:count]
        return (~drop).to(self.item_embedding.weight.dtype)[:, None]

    def embed_items(self, ids: torch.Tensor) -> torch.Tensor:
        """Input vectors of item ids (any shape -> shape + (D,)); text adds to the id embedding."""
        vectors = self.item_embedding(ids)
        if self.config.text_dim:
            keep = self._id_keep(self.config.n_items + 2)
            if keep is not None:
                vectors = vectors * keep[ids]
            vectors = vectors + self.text_projection(self.text_vectors[ids])
        return vectors

    def item_vectors(self) -> torch.Tensor:
        """The output vector of every id 0..n_items, (V + 1, D); row 0 (padding) is never recommended."""
        weight = self.item_embedding.weight[: self.config.n_items + 1]  # (V + 1, D)
        if self.config.text_dim:
            keep = self._id_keep(self.config.n_items + 1)
            if keep is not None:
                weight = weight * keep
            weight = weight + self.text_projection(self.text_vectors[: self.config.n_items + 1])
        return weight

    # -- encoding ------------------------------------------------------------------------------------

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """The state at every position: ``items`` (B, T) right-padded with 0 -> (B, T, D)."""
        B, T = items.shape
        if T > self.config.max_length:
            raise ConfigError(f"sequences are at most {self.config.max_length} items for this model, not {T}.")
        keep = items > 0  # (B, T)
        positions = torch.arange(T, device=items.device)  # (T,)
        x = self.embed_items(items) + self.position_embedding(positions)[None]  # (B, T, D)
        x = self.embedding_dropout(self.embedding_norm(x))
        for block in self.blocks:
            x = block(x, keep)
        return self.final_norm(x)  # (B, T, D)

    def score(self, states: torch.Tensor) -> torch.Tensor:
        """Scores of every id for each state: (N, D) -> (N, V + 1); padding and unknown items get -inf."""
        logits = (self.item_vectors() @ states.T).T  # (N, V + 1); items-major is MKL's faster shape here
        return logits.masked_fill_(~self.item_known, float("-inf"))

    @torch.no_grad()
    def user_vectors(self, histories: Sequence[Sequence[int] | np.ndarray], batch_size: int = 1024,
                     max_tokens: int = 32768) -> torch.Tensor:
        """The state after each history (its most recent ``max_length`` items), (U, D).

        A causal model reads the state at the last item; a bidirectional one
        appends ``[mask]`` and reads the state there. An empty history gives the
        state of a history of padding only, which scores items by their
        popularity-like bias at position 0.
        """
        was_training = self.training
        self.eval()
        limit = self.config.max_length - (0 if self.config.causal else 1)
        clipped = [np.asarray(h, dtype=np.int64)[-limit:] for h in histories]
        if not self.config.causal:
            clipped = [np.append(h, self.config.mask_token) for h in clipped]
        lengths = np.array([len(h) for h in clipped], dtype=np.int64)
        order = np.argsort(lengths, kind="stable")  # similar lengths together: little padding
        out = torch.zeros(len(clipped), self.config.dim)
        first = 0
        while first < len(order):
            # as many histories as fit in max_tokens at the width of the longest (the last, sorted)
            count = 1
            while (count < batch_size and first + count < len(order)
                   and (count + 1) * max(1, int(lengths[order[first + count]])) <= max_tokens):
                count += 1
            rows = order[first:first + count]
            first += count
            width = max(1, int(lengths[rows].max()))
            batch = torch.zeros(len(rows), width, dtype=torch.long)
            for r, row in enumerate(rows):
                batch[r, : lengths[row]] = torch.from_numpy(clipped[row])
            states = self(batch)  # (b, T, D)
            last = torch.from_numpy(np.maximum(lengths[rows] - 1, 0))
            out[torch.from_numpy(rows)] = states[torch.arange(len(rows)), last]
        self.train(was_training)
        return out

    # -- artifacts -----------------------------------------------------------------------------------

    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` to ``directory``; returns it."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {name: tensor.detach().contiguous().cpu() for name, tensor in self.state_dict().items()}
        save_file(tensors, str(directory / WEIGHTS_FILE))
        payload = {"kind": "sequence", "model": asdict(self.config), "selfsim_version": __version__, **(extra or {})}
        (directory / CONFIG_FILE).write_text(json.dumps(payload, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> tuple[SequenceModel, dict]:
        """A model saved by :meth:`save`, and the whole ``config.json`` (item ids and training notes)."""
        from safetensors.torch import load_file

        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file() or not (directory / WEIGHTS_FILE).is_file():
            raise NotFoundError(f"{directory} is not a recommender model directory (no {CONFIG_FILE} and "
                                f"{WEIGHTS_FILE}); train one with `selfsim interactions train` first.")
        payload = json.loads((directory / CONFIG_FILE).read_text())
        if payload.get("kind") != "sequence":
            raise ConfigError(f"{directory} holds a {payload.get('kind')!r} model, not a recommender.")
        model = cls(SequenceConfig(**payload["model"]))
        model.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        model.eval()
        return model, payload
