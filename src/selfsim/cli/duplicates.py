"""``selfsim duplicates`` and ``selfsim eval pairs``: near-duplicates in a collection, and pair scoring."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from selfsim.app import (
    DEFAULT_BACKEND,
    Calibration,
    Collection,
    DuplicateFinder,
    DuplicatesConfig,
    calibrate_duplicates,
    distinct_texts,
    load_encoder,
    parse_filter,
    read_labelled_pairs,
    save_pair_scorer,
)
from selfsim.cli.common import BackendOption, console, errors, print_json, progress_bar, reported_warnings, safe
from selfsim.config import DEFAULT_ENCODER
from selfsim.errors import ConfigError
from selfsim.evaluation.pairs import evaluate_pairs, read_pairs

CollectionArg = Annotated[Path, typer.Argument(help="Collection directory.")]
FORMATS = ("table", "json", "csv")


def duplicates(
    collection: CollectionArg,
    threshold: Annotated[float, typer.Option(help="Cosine similarity at or above which two items are "
                                                  "duplicates (-1 to 1).")] = DuplicatesConfig.threshold,
    calibrate: Annotated[Path | None, typer.Option(
        help="Labelled pairs (TSV: label, sentence1, sentence2) to pick the threshold with the best F1; "
             "overrides --threshold.")] = None,
    exact: Annotated[bool, typer.Option(help="Find texts equal after normalising case, spacing and "
                                             "punctuation.")] = True,
    semantic: Annotated[bool, typer.Option(help="Find items with similar meaning (vector search).")] = True,
    lexical: Annotated[bool, typer.Option(help="Find copy-paste with small edits (MinHash over word "
                                               "shingles).")] = False,
    lexical_threshold: Annotated[float, typer.Option(help="Jaccard similarity of word shingles for "
                                                          "--lexical.")] = DuplicatesConfig.lexical_threshold,
    grouping: Annotated[str, typer.Option(help="components: pairs chain into one group; centre: every member "
                                               "is a duplicate of the group's central item.")] = "components",
    keep: Annotated[str, typer.Option(help="Which item of a group to suggest keeping: longest, shortest, "
                                           "first, last or central.")] = DuplicatesConfig.keep,
    filter: Annotated[list[str] | None, typer.Option("--filter", "-f", help="Only items passing this metadata "
                                                                            "condition (repeatable).")] = None,
    output_format: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the groups to this file "
                                                                      "instead of the screen.")] = None,
    write: Annotated[bool, typer.Option("--write", help="Store each member's group and keep flag as metadata "
                                                        "(fields FIELD and FIELD_keep).")] = False,
    field: Annotated[str, typer.Option(help="Metadata field for the group number with --write.")] =
        "duplicate_group",
    limit: Annotated[int, typer.Option(help="Groups shown in the table.")] = 20,
) -> None:
    """Find exact, semantic and (optionally) lexical duplicates in COLLECTION and group them."""
    if output_format not in FORMATS:
        raise ConfigError(f"unknown format {output_format!r}; use table, json or csv.")
    spec = parse_filter(filter or [])
    with Collection.open(collection) as target, reported_warnings():
        calibration = None
        if calibrate is not None:
            calibration = _calibrate(target, calibrate)
            threshold = calibration.threshold
        config = DuplicatesConfig(threshold=threshold, exact=exact, semantic=semantic, lexical=lexical,
                                  lexical_threshold=lexical_threshold, grouping=grouping,  # type: ignore[arg-type]
                                  keep=keep)  # type: ignore[arg-type]
        finder = target.duplicates(config, spec)
        texts = {m: target.get(m).text for g in finder.groups_ for m in g.members}
        written = target.write_duplicates(finder, field) if write else None
        checked = len(target) if not spec else sum(1 for _ in target.items(spec))
    report = _report(finder, config, calibration, texts, checked, written, field)
    if output_format == "json":
        _emit(json.dumps(report, ensure_ascii=False, indent=2) + "\n", output)
    elif output_format == "csv":
        _emit(_csv(finder, texts), output)
    else:
        _table(report, limit)
        if output is not None:
            _emit(json.dumps(report, ensure_ascii=False, indent=2) + "\n", output)


def _calibrate(target: Collection, path: Path) -> Calibration:
    pairs = read_labelled_pairs(path)
    with progress_bar("texts") as bar:
        task = bar.add_task("embedding labelled pairs", total=distinct_texts(pairs))
        calibration = calibrate_duplicates(target.encoder, pairs, progress=lambda n: bar.advance(task, n))
    errors.print(f"calibrated on {calibration.pairs:,} labelled pairs: threshold [bold]{calibration.threshold:.4f}[/] "
                 f"(F1 {calibration.f1:.4f}, precision {calibration.precision:.4f}, recall {calibration.recall:.4f}, "
                 f"average precision {calibration.average_precision:.4f})")
    return calibration


def _report(finder: DuplicateFinder, config: DuplicatesConfig, calibration: Calibration | None,
            texts: dict[str, str], checked: int, written: int | None, field: str) -> dict[str, Any]:
    return {
        "items": checked, "groups": len(finder.groups_), "duplicates": len(finder.duplicates_),
        "pairs": finder.counts_, "threshold": config.threshold, "grouping": config.grouping, "keep": config.keep,
        "calibration": calibration.to_dict() if calibration else None,
        "seconds": {k: round(v, 3) for k, v in finder.seconds_.items()},
        "written": written, "field": field if written is not None else None,
        "group_list": [{**g.to_dict(), "keep_text": texts[g.keep]} for g in finder.groups_],
        "pair_list": [p.to_dict() for p in finder.pairs_],
    }


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        output.write_text(text, encoding="utf-8")
        errors.print(f"wrote {safe(output)}")


def _csv(finder: DuplicateFinder, texts: dict[str, str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["group", "id", "keep", "centre", "similarity_to_centre", "text"])
    for group in finder.groups_:
        for member in group.members:
            similarity = group.similarity.get(member)
            writer.writerow([group.group, member, member == group.keep, member == group.centre,
                             "" if similarity is None else f"{similarity:.4f}", " ".join(texts[member].split())])
    return buffer.getvalue()


def _table(report: dict[str, Any], limit: int) -> None:
    pairs = ", ".join(f"{kind} {count:,}" for kind, count in report["pairs"].items())
    console.print(f"{report['items']:,} items checked; [bold]{report['groups']:,}[/] duplicate groups, "
                  f"{report['duplicates']:,} items could go (pairs: {pairs}; threshold {report['threshold']:.3f}, "
                  f"{safe(report['grouping'])})")
    if report["groups"]:
        table = Table(show_lines=True)
        for column in ("group", "size", "keep", "others", "text kept"):
            table.add_column(column, overflow="fold", justify="right" if column in ("group", "size") else "left",
                             ratio=1 if column == "text kept" else None)
        for group in report["group_list"][:limit]:
            others = [m for m in group["members"] if m != group["keep"]]
            shown = ", ".join(others[:6]) + (f" (+{len(others) - 6})" if len(others) > 6 else "")
            text = " ".join(group["keep_text"].split())
            table.add_row(str(group["group"]), str(group["size"]), safe(group["keep"]), safe(shown),
                          safe(text[:200] + ("…" if len(text) > 200 else "")))
        console.print(table)
        if report["groups"] > limit:
            console.print(f"... {report['groups'] - limit:,} more groups (use --format json or csv for all)")
    if report["written"] is not None:
        field = safe(report["field"])
        console.print(f"wrote {field} and {field}_keep to {report['written']:,} items; "
                      f"search with --filter \"{field}_keep!=false\" to see one item per group")


def eval_pairs(
    file: Annotated[Path, typer.Argument(help="Labelled pairs, TSV: label (1 = duplicate), sentence1, sentence2.")],
    encoder: Annotated[str, typer.Option(help="Registered encoder name or model directory.")] = DEFAULT_ENCODER,
    backend: BackendOption = DEFAULT_BACKEND,
    folds: Annotated[int, typer.Option(help="Folds for the learned fused scorer (cosine + lexical overlap); "
                                            "0 or 1 scores cosine only.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the fold split.")] = 0,
    save: Annotated[Path | None, typer.Option(help="Fit the fused scorer on all pairs and save its weights "
                                                   "(JSON) here.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Average precision, best F1 and its threshold on labelled pairs: cosine, and cosine fused with lexical overlap."""
    pairs = read_pairs(file)
    model = load_encoder(encoder, backend)
    with progress_bar("texts") as bar:
        task = bar.add_task("embedding", total=len(set(pairs.first + pairs.second)))
        report = evaluate_pairs(model, pairs, folds=folds, seed=seed, progress=lambda n: bar.advance(task, n))
    if save is not None:
        save_pair_scorer(model, pairs, save)
    data = {"file": str(file), "encoder": model.name, **report.to_dict()}
    if json_output:
        print_json(data)
        return
    cosine = report.cosine
    table = Table(title=f"pairs: {safe(file.name)} ({report.pairs:,} pairs, {report.positives:,} positive)")
    for column in ("scorer", "measured on", "AP", "best F1", "threshold", "precision", "recall", "F1 @ train thr."):
        table.add_column(column, justify="left" if column in ("scorer", "measured on") else "right")
    table.add_row("cosine", "all pairs", f"{100 * cosine.average_precision:.2f}", f"{100 * cosine.f1:.2f}",
                  f"{cosine.threshold:.4f}", f"{100 * cosine.precision:.2f}", f"{100 * cosine.recall:.2f}", "")
    for name, values in (("cosine", report.cosine_folds), ("fused (cosine + lexical)", report.fused_folds)):
        if values:
            table.add_row(name, f"held-out folds ({report.folds})", f"{100 * values['average_precision']:.2f}",
                          f"{100 * values['best_f1']:.2f}", "", "", "", f"{100 * values['f1_at_train_threshold']:.2f}")
    console.print(table)
    if report.weights:
        console.print("fused weights: " + ", ".join(f"{k} {v:+.2f}" for k, v in report.weights.items()))
    if save is not None:
        console.print(f"saved the fused scorer to {safe(save)}")
