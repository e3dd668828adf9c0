"""``selfsim classify ...``, ``selfsim labels ...`` and ``selfsim eval classify``: learning from few labels."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from selfsim.app import (
    DEFAULT_BACKEND,
    ClassifyConfig,
    Collection,
    SelfTrainingConfig,
    check_label_source,
    labelling_function_classes,
    load_encoder,
    load_labelling_functions,
    read_label_file,
)
from selfsim.app import export_labels as write_labels
from selfsim.app import import_labels as store_labels
from selfsim.cli.common import BackendOption, console, plain, print_json, safe, split_values, warn
from selfsim.config import DEFAULT_ENCODER
from selfsim.errors import ConfigError, NotFoundError
from selfsim.evaluation.classify import METHODS, FewLabelsConfig, evaluate_few_labels, read_labelled

app = typer.Typer(help="Classify items from a few labels: fit, predict, weak labels, what to label next.",
                  no_args_is_help=True)
labels_app = typer.Typer(help="Label sets in a collection: import, export, list.", no_args_is_help=True)

CollectionArg = Annotated[Path, typer.Argument(help="Collection directory.")]
TaskOption = Annotated[str, typer.Option("--task", "-t", help="Label set name (several per collection).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


# -- selfsim labels ----------------------------------------------------------------------------------


@labels_app.command("import")
def import_labels(
    collection: CollectionArg,
    file: Annotated[Path, typer.Argument(help="TSV/CSV/JSONL with 'label' and 'id' (or the item's exact 'text').")],
    task: TaskOption = "default",
    source: Annotated[str, typer.Option(help="Who gave these labels: human, weak, pseudo.")] = "human",
    json_output: JsonOption = False,
) -> None:
    """Import labels for TASK from FILE; every id (or text) must name an item of the collection."""
    check_label_source(source)
    rows = read_label_file(file)
    with Collection.open(collection) as target:
        imported = store_labels(target.labels, task, rows, source)
    if not rows:
        warn(f"{file} holds no labels")
    # Rows naming an item already labelled earlier in the file replace that label (the later row wins).
    if imported.replaced:
        warn(f"{imported.replaced:,} rows replaced the label of an item named earlier in {file}")
    if json_output:
        print_json({"task": task, "written": imported.written, "replaced": imported.replaced,
                    "counts": imported.counts})
        return
    counts = ", ".join(f"{c} {n}" for c, n in sorted(imported.counts.get(source, {}).items()))
    console.print(f"imported [bold]{imported.written}[/] {source} labels into {safe(repr(task))} ({safe(counts)})")


@labels_app.command("export")
def export_labels(
    collection: CollectionArg,
    file: Annotated[Path, typer.Argument(help="Output .tsv, .csv or .jsonl.")],
    task: TaskOption = "default",
    source: Annotated[list[str] | None, typer.Option(help="Sources to export, in order of preference "
                                                          "(default: human, weak, pseudo, predicted).")] = None,
) -> None:
    """Write TASK's labels (one per item, the preferred source first) to FILE."""
    with Collection.open(collection) as target:
        written = write_labels(target.labels, task, file, split_values(source) or None)
    console.print(f"wrote {written} labels of {safe(repr(task))} to {safe(file)}")


@labels_app.command("list")
def list_labels(collection: CollectionArg, json_output: JsonOption = False) -> None:
    """The label sets of COLLECTION with their counts per source and class."""
    with Collection.open(collection) as target:
        infos = target.labels.tasks()
    if json_output:
        print_json([{"task": i.task, "counts": i.counts} for i in infos])
        return
    table = Table(title=f"label sets in {safe(collection)}")
    for column in ("task", "source", "counts per class"):
        table.add_column(column)
    for info in infos:
        for source, counts in sorted(info.counts.items()):
            per_class = ", ".join(f"{c}: {n}" for c, n in sorted(counts.items()))
            table.add_row(safe(info.task), safe(source), safe(per_class))
    console.print(table)


# -- selfsim classify --------------------------------------------------------------------------------


@app.command()
def fit(
    collection: CollectionArg,
    task: TaskOption = "default",
    self_train: Annotated[bool, typer.Option(
        "--self-train", help="Grow the labels with confident pseudo-labels (rolled back when they hurt).")] = False,
    propagate: Annotated[bool, typer.Option("--propagate", help="Grow the labels by label propagation over the "
                                                                "kNN graph instead.")] = False,
    finetune: Annotated[bool, typer.Option("--finetune", help="Contrastive (SetFit-style) fine-tune of the "
                                                              "encoder on label pairs before the head.")] = False,
    threshold: Annotated[float, typer.Option(help="Self-training: accept pseudo-labels at or above this "
                                                  "probability.")] = SelfTrainingConfig.threshold,
    max_rounds: Annotated[int, typer.Option(help="Self-training: most rounds.")] = SelfTrainingConfig.max_rounds,
    json_output: JsonOption = False,
) -> None:
    """Train TASK's classifier on its human (and weak) labels; write predictions for every item back."""
    if self_train and propagate:
        raise ConfigError("pick one of --self-train and --propagate.")
    semi = "self-train" if self_train else "propagation" if propagate else "none"
    config = ClassifyConfig(semi=semi, finetune=finetune,  # type: ignore[arg-type]
                            self_training=SelfTrainingConfig(threshold=threshold, max_rounds=max_rounds))
    with Collection.open(collection) as target:
        report = target.classifier(task).fit(config)
    if json_output:
        if report.warning:
            warn(report.warning)
        print_json(report.to_dict())
        return
    console.print(f"trained {safe(repr(task))} on {report.labelled} labels ({safe(', '.join(report.classes))}); "
                  f"{report.predicted} predictions written in {report.seconds:.1f} s")
    console.print(report.held_out.summary(), markup=False, highlight=False)
    if report.rounds:
        table = Table(title="self-training rounds")
        for column in ("round", "accepted", "mean conf.", "class balance", "held-out acc.", "kept"):
            table.add_column(column)
        for r in report.rounds:
            score = "-" if r.score is None else f"{100 * r.score:.1f}"
            balance = ", ".join(f"{c}: {n}" for c, n in r.class_balance.items())
            table.add_row(str(r.round), str(r.accepted), f"{r.mean_confidence:.3f}", safe(balance), score,
                          ("yes" if r.kept else "no") + (f" ({r.note})" if r.note else ""))
        console.print(table)
        console.print(f"kept round {report.best_round}: {report.pseudo_labels} pseudo-labels")
    if report.warning:
        warn(report.warning)


@app.command()
def predict(
    collection: CollectionArg,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    task: TaskOption = "default",
    file: Annotated[Path | None, typer.Option(help="A file with one text per line to classify.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Classify TEXTS (or the lines of --file) with TASK's trained classifier."""
    wanted = list(texts or [])
    if file is not None:
        if not file.is_file():
            raise NotFoundError(f"{file} does not exist; check the path.")
        wanted += [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not wanted:
        raise ConfigError("give texts to classify, as arguments or with --file.")
    with Collection.open(collection) as target:
        answers = target.classifier(task).predict(wanted)
    if json_output:
        print_json(answers)
        return
    for answer in answers:
        console.print(Text.assemble((plain(answer["label"]), "bold"),
                                    f" ({answer['confidence']:.2f})  {plain(answer['text'][:100])}"))


@app.command()
def weak(
    collection: CollectionArg,
    functions: Annotated[Path, typer.Option(help="YAML or Python file of labelling functions.")],
    task: TaskOption = "default",
    combine: Annotated[str, typer.Option(help="label-model (Dawid-Skene EM) or majority.")] = "label-model",
    train: Annotated[bool, typer.Option("--fit", help="Then train the classifier on human + weak labels.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Apply labelling functions to every item, report on them and write their combined votes as weak labels."""
    if combine not in ("label-model", "majority"):
        raise ConfigError(f"unknown way to combine votes {combine!r}; use label-model or majority.")
    declared = load_labelling_functions(functions)
    with Collection.open(collection) as target:
        known = {info.task: info for info in target.labels.tasks()}
        classes = sorted(set(labelling_function_classes(declared)) |
                         set(known[task].classes if task in known else []))
        classifier = target.classifier(task)
        report = classifier.weak(declared, classes, combine)  # type: ignore[arg-type]
        fitted = classifier.fit() if train else None
    if json_output:
        print_json({**report.to_dict(), **({"fit": fitted.to_dict()} if fitted else {})})
        return
    table = Table(title=f"labelling functions on {report.items} items")
    for column in ("function", "coverage", "overlaps", "conflicts", "accuracy", "est. accuracy"):
        table.add_column(column, justify="left" if column == "function" else "right")
    for f in report.functions:
        accuracy = "-" if f.accuracy is None else f"{100 * f.accuracy:.1f} ({f.gold_votes})"
        table.add_row(safe(f.name), f"{100 * f.coverage:.1f}%", f"{100 * f.overlaps:.1f}%", f"{100 * f.conflicts:.1f}%",
                      accuracy, f"{100 * report.function_accuracy[f.name]:.1f}")
    console.print(table)
    console.print(f"{report.covered} items covered; {report.written} weak labels written ({combine})")
    if report.gold_covered:
        console.print(f"on {report.gold_covered} human-labelled covered items: label model "
                      f"{100 * (report.label_model_accuracy or 0):.1f}%, majority vote "
                      f"{100 * (report.majority_vote_accuracy or 0):.1f}%")
    if fitted:
        console.print(f"trained {safe(repr(task))} on {fitted.labelled} human + weak labels")


@app.command()
def suggest(
    collection: CollectionArg,
    task: TaskOption = "default",
    n: Annotated[int, typer.Option("-n", help="How many items to suggest.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """The unlabelled items whose labels would teach TASK's classifier the most, for a person to label."""
    with Collection.open(collection) as target:
        classifier = target.classifier(task)
        picked = classifier.suggest(n)
        held_out = classifier.held_out()
    if held_out.at_chance:  # its margins are noise then, and would pass for information if printed silently
        warn(f"these margins mean nothing (the items are only spread across the collection): {held_out.warning}")
    elif held_out.accuracy is None:
        typer.echo(held_out.note, err=True)
    if json_output:
        print_json(picked)
        return
    for row in picked:
        console.print(f"{safe(row['id'])}  margin {row['margin']:.3f}  guess {safe(row['predicted'])}  "
                      f"{safe(row['text'][:90])}", highlight=False)


# -- selfsim eval classify ---------------------------------------------------------------------------


def eval_classify(
    train: Annotated[Path, typer.Option(help="Training TSV (label<TAB>text, header) or JSONL (text, label).")],
    test: Annotated[Path, typer.Option(help="Test file in the same layout.")],
    per_class: Annotated[str, typer.Option(help="Labels per class to sample, comma-separated.")] = "8,16,64",
    seeds: Annotated[int, typer.Option(help="Seeds (label draws) per size.")] = 5,
    methods: Annotated[str, typer.Option(help=f"Methods, comma-separated: {', '.join(METHODS)}.")] =
        "probe,self-train,finetune",
    unlabelled: Annotated[Path | None, typer.Option(help="Extra unlabelled texts (a labelled file whose labels "
                                                         "are ignored), e.g. a dev split.")] = None,
    pool_size: Annotated[int, typer.Option(help="Seeded subset of the training texts used as the pool "
                                                "(0: all).")] = 20000,
    encoder: Annotated[str, typer.Option(help="Registered encoder name or model directory.")] = DEFAULT_ENCODER,
    backend: BackendOption = DEFAULT_BACKEND,
    functions: Annotated[Path | None, typer.Option(help="Labelling functions (YAML or Python) for the weak and "
                                                        "finetune+weak methods.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Mean ± std accuracy and macro-F1 from a few labels per class, per method, on the same sampled labels."""
    sizes = tuple(int(s) for s in split_values([per_class]))
    config = FewLabelsConfig(per_class=sizes, seeds=seeds, methods=tuple(split_values([methods])),
                             pool_size=pool_size or None)
    train_texts, train_labels = read_labelled(train)
    test_texts, test_labels = read_labelled(test)
    extra = read_labelled(unlabelled)[0] if unlabelled else []
    started = time.perf_counter()
    model = load_encoder(encoder, backend)  # type: ignore[arg-type]
    results = evaluate_few_labels(train_texts, train_labels, test_texts, test_labels, model, config,
                                  extra, log=None if json_output else lambda m: console.print(safe(m), highlight=False),
                                  functions=load_labelling_functions(functions) if functions else ())
    summaries = [r.summary() for r in results]
    if json_output:
        print_json({"train": str(train), "test": str(test), "encoder": encoder, "results": summaries,
                    "seconds": round(time.perf_counter() - started, 1)})
        return
    table = Table(title=f"few labels: {safe(train.name)} -> {safe(test.name)} ({seeds} seeds)")
    for column in ("per class", "method", "accuracy", "macro-F1", "s / seed"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for s in summaries:
        table.add_row(str(s["per_class"]), safe(s["method"]), f"{s['accuracy_mean']:.1f} ± {s['accuracy_std']:.1f}",
                      f"{s['macro_f1_mean']:.1f} ± {s['macro_f1_std']:.1f}", f"{s['seconds_mean']:.1f}")
    console.print(table)
