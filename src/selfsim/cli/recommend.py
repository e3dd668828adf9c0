"""``selfsim interactions ...``, ``selfsim recommend``, ``selfsim similar-items`` and ``selfsim eval recommend``."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from selfsim.app import (
    DEFAULT_BACKEND,
    BlendConfig,
    Collection,
    InteractionReadConfig,
    OptimizerConfig,
    Recommendation,
    RecommendConfig,
    SequenceTrainingConfig,
)
from selfsim.app.distributed import RayTrainConfig, ray_session
from selfsim.cli.common import BackendOption, console, errors, print_json, safe, split_values, warn
from selfsim.config import DEFAULT_ENCODER
from selfsim.errors import ConfigError
from selfsim.evaluation.recommend import evaluate_file

interactions_app = typer.Typer(help="Interaction logs in a collection: import, train the recommender, segments.",
                               no_args_is_help=True)

CollectionArg = Annotated[Path, typer.Argument(help="Collection directory.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
_TRAINING = SequenceTrainingConfig()


def _report(row: dict[str, Any]) -> None:
    errors.print(f"epoch {row['epoch']}: loss {row['loss']:.3f}, valid NDCG@10 {row['valid_ndcg@10']:.4f}, "
                 f"HR@10 {row['valid_hr@10']:.4f} ({row['seconds']:.1f} s; best epoch {row['best_epoch']})",
                 highlight=False)


def _training_config(epochs: int, objective: str, contrastive_weight: float, learning_rate: float,
                     batch_size: int, patience: int, budget_minutes: float | None, seed: int,
                     threads: int | None, ray: bool = False, workers: int = 2) -> SequenceTrainingConfig:
    optimizer = OptimizerConfig(learning_rate=learning_rate, weight_decay=_TRAINING.optimizer.weight_decay,
                                warmup_ratio=_TRAINING.optimizer.warmup_ratio, decay=_TRAINING.optimizer.decay,
                                max_grad_norm=_TRAINING.optimizer.max_grad_norm)
    # One process trains on 2 threads; a Ray worker on 1 (one CPU each: workers, not threads, spread the work).
    threads = threads if threads is not None else (1 if ray else 2)
    config = SequenceTrainingConfig(objective=objective, epochs=epochs, batch_size=batch_size,  # type: ignore[arg-type]
                                    optimizer=optimizer, contrastive_weight=contrastive_weight, patience=patience,
                                    time_budget_s=None if budget_minutes is None else budget_minutes * 60, seed=seed,
                                    threads=threads)
    return replace(config, distributed=RayTrainConfig(workers=workers, threads=threads)) if ray else config


def _cluster(ray: bool, address: str | None) -> AbstractContextManager[Any]:
    """The Ray session a --ray command runs in (a local cluster, or the one at ``address``), or nothing."""
    return ray_session(address or "local") if ray else nullcontext()


EpochsOption = Annotated[int, typer.Option(help="Training epochs; the learning rate decays linearly to 0 over them "
                                                 "(early stopping may end sooner).")]
ObjectiveOption = Annotated[str, typer.Option(help="next_item (causal, SASRec) or masked_item (BERT4Rec).")]
ContrastiveOption = Annotated[float, typer.Option(help="Weight of the contrastive auxiliary loss (0 = off).")]
RateOption = Annotated[float, typer.Option(help="Peak AdamW learning rate.")]
BatchOption = Annotated[int, typer.Option(help="Histories per batch.")]
PatienceOption = Annotated[int, typer.Option(help="Epochs without a better validation NDCG@10 before stopping.")]
BudgetOption = Annotated[float | None, typer.Option(help="Stop training after this many minutes (best model kept).")]
SeedOption = Annotated[int, typer.Option(help="Random seed.")]
ThreadsOption = Annotated[int | None, typer.Option(help="CPU threads for training (default 2; with --ray, "
                                                            "per worker, default 1).")]
RayOption = Annotated[bool, typer.Option(
    "--ray", help="Train data-parallel on a Ray cluster (needs the ray extra): one started on this machine, or "
                  "the one at --ray-address.")]
RayAddressOption = Annotated[str | None, typer.Option(
    help="The Ray cluster to join (auto, HOST:PORT, ray://HOST:PORT); implies --ray.")]
WorkersOption = Annotated[int, typer.Option(min=1, help="With --ray: data-parallel workers sharing each "
                                                        "--batch-size batch.")]
BlendOption = Annotated[bool, typer.Option(help="Blend in item-to-item co-occurrence, weighted as validation says.")]


@interactions_app.command("import")
def import_interactions(
    collection: CollectionArg,
    files: Annotated[list[Path], typer.Argument(help="CSV/TSV/JSONL/Parquet events, or .txt 'user item item ...'.")],
    user_field: Annotated[str, typer.Option(help="Column holding the user id.")] = "user",
    item_field: Annotated[str, typer.Option(help="Column holding the item id.")] = "item",
    time_field: Annotated[str, typer.Option(help="Column holding the timestamp (seconds or ISO date).")] = "timestamp",
    event_field: Annotated[str, typer.Option(help="Optional column holding the event type.")] = "event",
    weight_field: Annotated[str, typer.Option(help="Optional column holding the event weight.")] = "weight",
    format: Annotated[str, typer.Option(help="auto (by extension), events or sequences.")] = "auto",
    on_error: Annotated[str, typer.Option(help="stop at a bad line, or skip it and report it.")] = "stop",
    encoder: Annotated[str, typer.Option(help="Encoder of a new collection (used for item text).")] = DEFAULT_ENCODER,
    backend: BackendOption = DEFAULT_BACKEND,
    json_output: JsonOption = False,
) -> None:
    """Import interaction events into COLLECTION (made if it does not exist yet)."""
    config = InteractionReadConfig(user_field=user_field, item_field=item_field, time_field=time_field,
                                   event_field=event_field, weight_field=weight_field, format=format,  # type: ignore[arg-type]
                                   on_error=on_error)  # type: ignore[arg-type]
    # Bad paths and missing columns fail before a collection is made; one made here that ends up
    # holding nothing (every line bad, or no lines at all) is removed again.
    Collection.check_interaction_files(files, config)
    with Collection.open_or_create(collection, discard_if_empty=True, encoder=encoder, backend=backend) as target:
        report = target.import_interactions(files, config)
        stats = target.interactions.stats()
    for name in report.empty_files:
        warn(f"{name} holds no events")
    if target.discarded:
        warn(f"nothing was imported, so no collection was made at {collection}")
    result = {"events_read": report.events, "events_new": report.stored, "skipped": [str(e) for e in report.skipped],
              "seconds": round(report.seconds, 2), "events": stats.events, "users": stats.users,
              "items": stats.items, "items_with_text": stats.items_with_text, "empty_files": report.empty_files,
              "discarded": target.discarded}
    if json_output:
        print_json(result)
        return
    if not target.discarded:
        console.print(f"imported [bold]{report.stored:,}[/] new events ({report.events:,} read) in "
                      f"{report.seconds:.1f} s; the collection holds {stats.events:,} events of {stats.users:,} "
                      f"users over {stats.items:,} items ({stats.items_with_text:,} with text)")
    for error in report.skipped[:10]:
        errors.print(f"skipped: {safe(error)}", highlight=False)


@interactions_app.command("info")
def interactions_info(collection: CollectionArg, json_output: JsonOption = False) -> None:
    """How many events, users and items COLLECTION holds, and its recommender's training notes."""
    with Collection.open(collection) as target:
        stats = target.interactions.stats()
        notes = target.recommender_notes()
    result = {"events": stats.events, "users": stats.users, "items": stats.items,
              "items_with_text": stats.items_with_text, "recommender": notes}
    if json_output:
        print_json(result)
        return
    console.print(result)


@interactions_app.command("train")
def train(
    collection: CollectionArg,
    epochs: EpochsOption = _TRAINING.epochs,
    objective: ObjectiveOption = "next_item",
    contrastive_weight: ContrastiveOption = 0.0,
    learning_rate: RateOption = _TRAINING.optimizer.learning_rate,
    batch_size: BatchOption = _TRAINING.batch_size,
    patience: PatienceOption = _TRAINING.patience,
    budget_minutes: BudgetOption = None,
    dim: Annotated[int, typer.Option(help="Width of item vectors and states.")] = RecommendConfig.dim,
    blocks: Annotated[int, typer.Option(help="Self-attention blocks.")] = RecommendConfig.blocks,
    dropout: Annotated[float, typer.Option(help="Dropout everywhere.")] = RecommendConfig.dropout,
    max_length: Annotated[int, typer.Option(help="Most recent items the model reads.")] = RecommendConfig.max_length,
    use_text: Annotated[bool, typer.Option(help="Add item text embeddings (items that are text items).")] = True,
    blend: BlendOption = True,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint.")] = False,
    seed: SeedOption = 0,
    threads: ThreadsOption = None,
    json_output: JsonOption = False,
    ray: RayOption = False,
    ray_address: RayAddressOption = None,
    workers: WorkersOption = 2,
) -> None:
    """Train the sequence recommender on COLLECTION's interactions; store the model and user vectors."""
    ray = ray or ray_address is not None
    training = _training_config(epochs, objective, contrastive_weight, learning_rate, batch_size, patience,
                                budget_minutes, seed, threads, ray, workers)
    config = RecommendConfig(max_length=max_length, dim=dim, blocks=blocks, dropout=dropout, use_text=use_text,
                             training=training, blend=BlendConfig() if blend else None)
    with _cluster(ray, ray_address), Collection.open(collection) as target:
        recommender = target.train_recommender(config, progress=None if json_output else _report, resume=resume)
    if json_output:
        print_json(recommender.notes)
        return
    notes = recommender.notes
    console.print(f"trained on {notes['users']:,} users: best validation NDCG@10 "
                  f"{notes['validation'].get('ndcg@10', 0):.4f} at epoch {notes['best_epoch']} "
                  f"({notes['seconds_per_epoch']:.1f} s per epoch, {notes['train_seconds']:.0f} s in all, "
                  f"stopped by {notes['stopped_by']})")
    if "blend" in notes:
        console.print(f"co-occurrence blend weight {notes['blend']['weight']} (chosen on validation NDCG@10)")


@interactions_app.command("segments")
def segments(
    collection: CollectionArg,
    k: Annotated[int, typer.Option("-k", help="Number of segments.")] = 8,
    seed: SeedOption = 0,
    json_output: JsonOption = False,
) -> None:
    """Group users into K segments by k-means over the user vectors the recommender stored."""
    with Collection.open(collection) as target:
        found = target.user_segments(k, seed)
    if json_output:
        print_json(found)
        return
    sizes: dict[int, int] = {}
    for segment in found.values():
        sizes[segment] = sizes.get(segment, 0) + 1
    table = Table(title=f"{len(found):,} users in {len(sizes)} segments")
    table.add_column("segment", justify="right")
    table.add_column("users", justify="right")
    for segment, size in sorted(sizes.items()):
        table.add_row(str(segment), f"{size:,}")
    console.print(table)


def _print_items(title: str, found: list[Recommendation], json_output: bool) -> None:
    if json_output:
        print_json([{"item": r.item, "score": round(r.score, 4)} for r in found])
        return
    table = Table(title=safe(title))
    for column in ("#", "item", "score"):
        table.add_column(column, justify="left" if column == "item" else "right")
    for position, r in enumerate(found, 1):
        table.add_row(str(position), safe(r.item), f"{r.score:.3f}")
    console.print(table)


def recommend(
    collection: CollectionArg,
    user: Annotated[str | None, typer.Option(help="A known user: the history comes from the store.")] = None,
    history: Annotated[list[str] | None, typer.Option(help="An anonymous session: item ids, oldest first "
                                                           "(comma-separated or repeated).")] = None,
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 10,
    include_seen: Annotated[bool, typer.Option(help="Also recommend items already in the history.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Recommend the next items for a user (--user) or an anonymous session (--history)."""
    items = split_values(history) if history is not None else None
    if history is not None and not items:
        raise ConfigError("the history is empty; give at least one item id (for example --history i1,i2).")
    with Collection.open(collection) as target:
        found = target.recommend(user=user, history=items, k=k, exclude_seen=not include_seen)
    _print_items(f"next items for {('user ' + user) if user else 'this session'}", found, json_output)


def similar_items(
    collection: CollectionArg,
    item: Annotated[str, typer.Argument(help="An item id the recommender knows.")],
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 10,
    json_output: JsonOption = False,
) -> None:
    """Items the recommender places closest to ITEM (cosine between item vectors)."""
    with Collection.open(collection) as target:
        found = target.similar_items(item, k)
    _print_items(f"items similar to {item}", found, json_output)


def eval_recommend(
    file: Annotated[Path, typer.Argument(help="Interactions: .txt 'user item item ...' lines, or an event file.")],
    model: Annotated[Path | None, typer.Option(help="Score this trained model directory instead of training.")] = None,
    epochs: EpochsOption = _TRAINING.epochs,
    objective: ObjectiveOption = "next_item",
    contrastive_weight: ContrastiveOption = 0.0,
    learning_rate: RateOption = _TRAINING.optimizer.learning_rate,
    batch_size: BatchOption = _TRAINING.batch_size,
    patience: PatienceOption = _TRAINING.patience,
    budget_minutes: BudgetOption = None,
    baselines: Annotated[bool, typer.Option(help="Also score most-popular and co-occurrence kNN.")] = True,
    blend: BlendOption = True,
    seed: SeedOption = 0,
    threads: ThreadsOption = None,
    json_output: JsonOption = False,
    ray: RayOption = False,
    ray_address: RayAddressOption = None,
    workers: WorkersOption = 2,
) -> None:
    """HR@5/10/20 and NDCG@5/10/20 by leave-one-out and full ranking against all items."""
    ray = ray or ray_address is not None
    if ray and model is not None:
        raise ConfigError("--model scores a trained model and trains nothing; leave out --ray, or --model to train.")
    training = _training_config(epochs, objective, contrastive_weight, learning_rate, batch_size, patience,
                                budget_minutes, seed, threads, ray, workers)
    with _cluster(ray, ray_address):
        result = evaluate_file(file, model, training, baselines=baselines, progress=None if json_output else _report,
                               blend_config=BlendConfig() if blend else None)
    if json_output:
        print_json(result)
        return
    table = Table(title=f"{safe(file.name)}: {result['users']:,} users, {result['items']:,} items, full ranking, "
                        "test split")
    for column in ("method", "HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"):
        table.add_column(column, justify="left" if column == "method" else "right")
    metrics = ("hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20")
    for name, values in result["methods"].items():
        table.add_row(name, *(f"{values['test'][m]:.4f}" for m in metrics))
        if "blend" in values:
            blended = values["blend"]
            table.add_row(f"{name} + co-occurrence (weight {blended['weight']})",
                          *(f"{blended['test'][m]:.4f}" for m in metrics))
    console.print(table)
