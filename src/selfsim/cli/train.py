"""``selfsim train``, ``selfsim adapt`` and ``selfsim eval sts``: training text encoders and scoring them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from selfsim.app import (
    DEFAULT_BACKEND,
    AdaptConfig,
    Collection,
    OptimizerConfig,
    TeacherConfig,
    TextTrainConfig,
    TrainingData,
    Validator,
    adapt_collection_to,
    find_rate,
    load_encoder,
    read_query_file,
    read_training_data,
    train_encoder_on,
    train_size_curve,
    training_validator,
)
from selfsim.app.distributed import ray_session, train_encoder_on_ray
from selfsim.cli.common import BackendOption, console, errors, print_json, progress_bar, safe, split_values
from selfsim.config import DEFAULT_ENCODER
from selfsim.errors import ConfigError
from selfsim.evaluation.sts import evaluate_sts, read_sts

Kinds = "scored, labelled, pairs, triplets or texts"


def parse_options(values: list[str] | None) -> dict[str, Any]:
    """``--option key=value`` pairs; values are read as JSON where they can be (numbers, true/false)."""
    options: dict[str, Any] = {}
    for item in split_values(values):
        if "=" not in item:
            raise ConfigError(f"--option {item!r} is not key=value; write e.g. --option temperature=0.05.")
        key, raw = item.split("=", 1)
        try:
            options[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.strip()] = raw
    return options


def train(
    data: Annotated[Path, typer.Argument(help="Training file: TSV, CSV or JSONL (see docs/training.md).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.")],
    objective: Annotated[str, typer.Option(help="simcse, denoise, crops, triplet, cosine, cosent, contrastive "
                                                "or pairs.")] = "cosent",
    option: Annotated[list[str] | None, typer.Option(help="Objective setting key=value (repeatable), e.g. "
                                                          "temperature=0.05, margin=0.5, scale=20.")] = None,
    kind: Annotated[str | None, typer.Option(help=f"How to read the file: {Kinds} (default: what the "
                                                  "objective needs).")] = None,
    base: Annotated[str, typer.Option(help="Model to start from: a registered name or a model "
                                           "directory.")] = DEFAULT_ENCODER,
    epochs: Annotated[float, typer.Option(help="Passes over the data.")] = 1.0,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps (overrides --epochs).")] = None,
    batch_size: Annotated[int, typer.Option(help="Rows per step.")] = 32,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW).")] = 2e-5,
    weight_decay: Annotated[float, typer.Option(help="Decoupled weight decay.")] = 0.01,
    warmup: Annotated[float, typer.Option(help="Share of steps spent warming up.")] = 0.1,
    decay: Annotated[str, typer.Option(help="linear, cosine or constant after warm-up.")] = "linear",
    max_length: Annotated[int, typer.Option(help="Tokens per text during training.")] = 128,
    valid_sts: Annotated[Path | None, typer.Option(help="Validate on STS pairs (score sentence1 "
                                                        "sentence2): Spearman.")] = None,
    valid_beir: Annotated[Path | None, typer.Option(help="Validate on a BEIR folder (corpus.jsonl, "
                                                         "queries.jsonl, qrels/*.tsv): nDCG@10.")] = None,
    eval_every: Annotated[int | None, typer.Option(help="Steps between validations (default: each "
                                                        "epoch).")] = None,
    patience: Annotated[int | None, typer.Option(help="Stop after this many validations without "
                                                      "improvement.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint in --output.")] = False,
    find_lr: Annotated[bool, typer.Option("--find-lr", help="Only run a learning-rate range test: plot "
                                                            "loss against rate and suggest one.")] = False,
    find_lr_steps: Annotated[int, typer.Option(help="Steps of the range test.")] = 100,
    curve_sizes: Annotated[list[str] | None, typer.Option(help="Also train on these training-set sizes "
                                                               "(e.g. 500,1000,2000) and plot the "
                                                               "validation metric against size.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Annotated[int | None, typer.Option(help="Torch threads.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ray: Annotated[bool, typer.Option(
        "--ray", help="Train data-parallel on a Ray cluster (needs the ray extra): one started on this machine, "
                      "or the one at --ray-address.")] = False,
    ray_address: Annotated[str | None, typer.Option(
        help="The Ray cluster to join (auto, HOST:PORT, ray://HOST:PORT); implies --ray.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="With --ray: data-parallel workers sharing each "
                                                     "--batch-size batch.")] = 2,
) -> None:
    """Train a text encoder on DATA with an objective; write a model directory that --encoder loads."""
    training_data = read_training_data(data, objective, kind)
    validator = training_validator(valid_sts, valid_beir)
    config = TextTrainConfig(
        objective=objective, options=parse_options(option), epochs=epochs, max_steps=max_steps,
        batch_size=batch_size, max_length=max_length, eval_every=eval_every, patience=patience, seed=seed,
        threads=threads, optimizer=OptimizerConfig(learning_rate=lr, weight_decay=weight_decay,
                                                   warmup_ratio=warmup, decay=decay))  # type: ignore[arg-type]
    ray = ray or ray_address is not None
    if ray and (find_lr or curve_sizes):
        raise ConfigError("--find-lr and --curve-sizes run in one process; leave out --ray for them.")
    if find_lr:
        _find_lr(base, training_data, config, output, json_output, find_lr_steps)
        return
    if curve_sizes:
        _size_curve(base, training_data, config, output, validator, curve_sizes, json_output)
        return
    total = config.total_steps(len(training_data))
    with progress_bar("steps") as bar:
        task = bar.add_task(f"training ({safe(objective)})", total=total)
        if ray:
            with ray_session(ray_address or "local"):
                report = train_encoder_on_ray(training_data, output, config, base=base, validator=validator,
                                              resume=resume, workers=workers, threads=threads or 1,
                                              progress=lambda n: bar.advance(task, n))
        else:
            report = train_encoder_on(training_data, output, config, base=base, validator=validator,
                                      resume=resume, progress=lambda n: bar.advance(task, n))
    if json_output:
        print_json(report.to_dict())
        return
    console.print(f"trained [bold]{safe(objective)} [/]for {report.steps:,} steps in {report.train_seconds:.0f} s "
                  f"({report.examples_per_second:,.1f} examples/s); loss {report.first_loss:.4f} -> "
                  f"{report.last_loss:.4f}")
    if report.best_metrics:
        console.print(f"validation: before {_fmt(report.initial_metrics)}; best {_fmt(report.best_metrics)} "
                      f"at step {report.best_step} (kept); last {_fmt(report.final_metrics)}")
    shown = safe(output)
    console.print(f"model: {shown}  (use it with --encoder {shown}; curve in {shown}/training/curve.png)")


def _find_lr(base: str, training_data: TrainingData, config: TextTrainConfig, output: Path, json_output: bool,
             steps: int) -> None:
    result = find_rate(training_data, output, config, base=base, steps=steps)
    if json_output:
        print_json(result.to_dict())
        return
    console.print(f"suggested learning rate: [bold]{result.suggested:.2e}[/] (loss was lowest at "
                  f"{result.lowest_loss_rate:.2e}); plot: {safe(result.plot)}")


def _size_curve(base: str, training_data: TrainingData, config: TextTrainConfig, output: Path,
                validator: Validator | None, sizes: list[str], json_output: bool) -> None:
    if validator is None:
        raise ConfigError("a learning curve over training-set sizes needs a validation set; give --valid-sts or "
                          "--valid-beir.")
    try:
        wanted = [int(size) for size in split_values(sizes)]
    except ValueError:
        raise ConfigError("--curve-sizes takes whole numbers, e.g. --curve-sizes 500,1000,2000.") from None
    result = train_size_curve(training_data, output, config, validator, wanted, base=base)
    if json_output:
        print_json(result)
        return
    for point in result["points"]:
        console.print(f"{point['size']:>7,} examples: {_fmt(point['best_metrics'])} ({point['train_seconds']:.0f} s)")
    console.print(f"plot: {safe(result['plot'])}")


def adapt(
    collection: Annotated[Path, typer.Argument(help="Collection directory.")],
    queries: Annotated[Path | None, typer.Option(help="A query log to learn from (JSONL with a query or text "
                                                      "field, TSV, or one query per line; no judgements). "
                                                      "Without it, pseudo-queries are made from the "
                                                      "collection.")] = None,
    objective: Annotated[str, typer.Option(help="teacher (the collection's hybrid search teaches its encoder; "
                                                "kept only if it beats the base on held-out queries), crops, "
                                                "simcse, denoise, or triplet (mined from the "
                                                "collection).")] = "teacher",
    mix: Annotated[list[str] | None, typer.Option(help="With teacher: shares of the adapted weights to try in "
                                                       "averages with the base (e.g. 1,0.75,0.5).")] = None,
    pseudo_queries: Annotated[int, typer.Option(help="With teacher and no --queries: pseudo-queries to "
                                                     "make.")] = TeacherConfig.pseudo_queries,
    loss: Annotated[str, typer.Option(help="With teacher: pairs (in-batch + hard-negative contrastive) or "
                                           "margin_mse (distil the hybrid search's score margins; "
                                           "--option contrastive_weight=1 adds the contrastive "
                                           "loss).")] = TeacherConfig.loss,
    option: Annotated[list[str] | None, typer.Option(help="Objective setting key=value (repeatable).")] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the collection's texts.")] = 1.0,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
    max_texts: Annotated[int | None, typer.Option(help="Train on a sample of this many items.")] = None,
    batch_size: Annotated[int, typer.Option(help="Texts per step.")] = 32,
    lr: Annotated[float, typer.Option(help="Peak learning rate; keep it low so the model does not "
                                           "forget.")] = 2e-5,
    max_length: Annotated[int, typer.Option(help="Tokens per text during training.")] = 128,
    keep_old: Annotated[bool, typer.Option(help="Keep the old encoder's vectors after the switch.")] = False,
    label_task: Annotated[str | None, typer.Option(help="With --objective triplet: items sharing a human "
                                                        "label of this label set are positives too.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Annotated[int | None, typer.Option(help="Torch threads.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Adapt COLLECTION's encoder to its own texts or a query log (no labels), then re-embed it into a new
    generation; with the teacher, only if the adapted model beats the base on held-out queries."""
    try:
        mixes = tuple(float(m) for m in split_values(mix)) or TeacherConfig.mixes
    except ValueError:
        raise ConfigError("--mix takes numbers between 0 and 1, e.g. --mix 1,0.75,0.5.") from None
    config = AdaptConfig(objective=objective, options=parse_options(option), epochs=epochs, max_steps=max_steps,
                         max_texts=max_texts, batch_size=batch_size, max_length=max_length, learning_rate=lr,
                         seed=seed, threads=threads, drop_old=not keep_old, label_task=label_task,
                         teacher=TeacherConfig(mixes=mixes, pseudo_queries=pseudo_queries, loss=loss))
    log = read_query_file(queries) if queries is not None else None
    with Collection.open(collection) as target, progress_bar() as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        try:
            report = adapt_collection_to(target, config, log, progress)
        except KeyboardInterrupt:
            bar.stop()
            errors.print("[yellow]interrupted[/]: the collection still uses its old encoder; run adapt again "
                         "to continue.")
            raise typer.Exit(130) from None
    if json_output:
        print_json(report.to_dict())
        return
    training = report.training
    verdict = report.validation
    if verdict is not None:
        chosen = verdict.chosen.validation if verdict.chosen else max(
            (c.validation for c in verdict.candidates), key=lambda v: v["teacher_ndcg@10"])
        console.print(f"label-free validation ({verdict.validation_queries:,} held-out queries judged by the hybrid "
                      f"search; nDCG@10 {verdict.select_on}): base {verdict.base['teacher_ndcg@10']:.4f} -> adapted "
                      f"{chosen['teacher_ndcg@10']:.4f}")
        if not report.accepted:
            console.print(f"[yellow]rolled back[/]: no adapted model beat the base; the collection keeps "
                          f"{safe(report.model_dir)} and generation {report.generation}")
            return
        assert verdict.chosen is not None
        console.print(f"kept the average with {verdict.chosen.mix:.2f} of the adapted weights")
    console.print(f"adapted with [bold]{safe(objective)} [/]on {report.texts:,} texts: {training.steps:,} steps in "
                  f"{training.train_seconds:.0f} s ({training.examples_per_second:,.1f} examples/s); re-embedded "
                  f"{report.chunks_embedded:,} chunks in {report.embed_seconds:.0f} s; generation "
                  f"{report.generation}; model {safe(report.model_dir)}")


def eval_sts(
    file: Annotated[Path, typer.Argument(help="STS TSV: score, sentence1, sentence2 (header optional).")],
    encoder: Annotated[str, typer.Option(help="Registered encoder name or model directory.")] = DEFAULT_ENCODER,
    backend: BackendOption = DEFAULT_BACKEND,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Spearman correlation x100 between the encoder's cosine similarity and the gold scores."""
    pairs = read_sts(file)
    model = load_encoder(encoder, backend)
    scores = evaluate_sts(model, pairs)
    result = {"file": str(file), "encoder": model.name, "pairs": scores.pairs,
              "spearman": round(scores.spearman, 2), "pearson": round(scores.pearson, 2),
              "seconds": round(scores.seconds, 1)}
    if json_output:
        print_json(result)
        return
    console.print(f"{safe(file.name)}: Spearman [bold]{scores.spearman:.2f}[/] (Pearson {scores.pearson:.2f}) over "
                  f"{scores.pairs:,} pairs with {safe(model.name)}")


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()) or "-"
