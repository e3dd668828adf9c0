"""``selfsim explain ...``: why a search hit, a recommendation, a prediction, a duplicate pair or a topic."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from selfsim.app import (
    EXPLANATION_COLUMNS,
    ClassifyExplainConfig,
    Collection,
    Explanation,
    MatchConfig,
    ShapleyConfig,
    TopicExplanation,
    explanation_highlight,
    explanation_html,
    explanation_rows,
    explanation_sides,
    explanation_summary,
)
from selfsim.cli.common import console, plain, print_json, safe, split_values
from selfsim.errors import ConfigError

app = typer.Typer(help="Why a result: Shapley values of the words, sentences or history items behind its score.",
                  no_args_is_help=True)

FORMATS = ("table", "json", "text", "html")
_DEFAULT_SHAPLEY = ShapleyConfig()

CollectionArg = Annotated[Path, typer.Argument(help="Collection directory.")]
FormatOption = Annotated[str, typer.Option(
    "--format", help="table (values, errors, occlusion), json, text (highlighted in terminal colours) or html "
                     "(a fragment for a web page).")]
ExactOption = Annotated[int, typer.Option(help="Compute the values exactly up to this many features (2^n "
                                               "coalitions, at most 16); sample permutations beyond.")]
PermutationsOption = Annotated[int, typer.Option(help="Random permutations when sampling (drawn in antithetic "
                                                      "pairs; for search and duplicates, orders of the text with "
                                                      "more features, each averaged over every subset of the "
                                                      "other's); more gives smaller standard errors.")]
MaxFeaturesOption = Annotated[int | None, typer.Option(help="Most features per text: neighbouring words or "
                                                            "sentences are merged beyond it (the notes say so).")]
SeedOption = Annotated[int, typer.Option(help="Random seed of the permutation sampling.")]


def _shapley(exact_up_to: int, permutations: int, seed: int) -> ShapleyConfig:
    return ShapleyConfig(exact_up_to=exact_up_to, permutations=permutations, seed=seed)


def _checked(output_format: str, max_features: int | None = None) -> None:
    """Refuse settings that cannot work before a model is loaded."""
    if output_format not in FORMATS:
        raise ConfigError(f"unknown format {output_format!r}; use table, json, text or html.")
    if max_features is not None and max_features < 1:
        raise ConfigError(f"--max-features must be at least 1, not {max_features}.")


def _match_config(max_features: int | None, shapley: ShapleyConfig) -> MatchConfig:
    defaults = MatchConfig()
    return MatchConfig(max_query_features=max_features or defaults.max_query_features,
                       max_item_features=max_features or defaults.max_item_features, shapley=shapley)


@app.command("search")
def explain_search(
    collection: CollectionArg,
    query: Annotated[str, typer.Argument(help="The query of the search.")],
    item_id: Annotated[str, typer.Argument(help="The id of the hit to explain.")],
    output_format: FormatOption = "table",
    exact_up_to: ExactOption = _DEFAULT_SHAPLEY.exact_up_to,
    permutations: PermutationsOption = _DEFAULT_SHAPLEY.permutations,
    max_features: MaxFeaturesOption = None,
    seed: SeedOption = _DEFAULT_SHAPLEY.seed,
) -> None:
    """How each query word and each sentence of the item's best passage made their dense similarity."""
    _checked(output_format, max_features)
    config = _match_config(max_features, _shapley(exact_up_to, permutations, seed))
    with Collection.open(collection) as target:
        explanation = target.explain_search(query, item_id, config)
    _show(explanation, output_format)


@app.command("duplicates")
def explain_duplicates(
    collection: CollectionArg,
    id_a: Annotated[str, typer.Argument(help="The id of the first item.")],
    id_b: Annotated[str, typer.Argument(help="The id of the second item.")],
    scorer: Annotated[Path | None, typer.Option(help="A fused pair scorer saved by `selfsim eval pairs --save`; "
                                                     "its feature contributions join the notes.")] = None,
    output_format: FormatOption = "table",
    exact_up_to: ExactOption = _DEFAULT_SHAPLEY.exact_up_to,
    permutations: PermutationsOption = _DEFAULT_SHAPLEY.permutations,
    max_features: MaxFeaturesOption = None,
    seed: SeedOption = _DEFAULT_SHAPLEY.seed,
) -> None:
    """Which sentences of each item make two items near-duplicates."""
    _checked(output_format, max_features)
    config = _match_config(max_features, _shapley(exact_up_to, permutations, seed))
    with Collection.open(collection) as target:
        explanation = target.explain_duplicates(id_a, id_b, config, scorer)
    _show(explanation, output_format)


@app.command("classify")
def explain_classify(
    collection: CollectionArg,
    item_id: Annotated[str, typer.Argument(help="The id of the item whose prediction to explain.")],
    task: Annotated[str, typer.Option(help="The label set whose classifier predicts.")],
    label: Annotated[str | None, typer.Option(help="The label to explain (default: the predicted one).")] = None,
    output_format: FormatOption = "table",
    exact_up_to: ExactOption = _DEFAULT_SHAPLEY.exact_up_to,
    permutations: PermutationsOption = _DEFAULT_SHAPLEY.permutations,
    max_features: MaxFeaturesOption = None,
    seed: SeedOption = _DEFAULT_SHAPLEY.seed,
) -> None:
    """Which words or sentences of an item pushed the classifier toward its label."""
    _checked(output_format, max_features)
    config = ClassifyExplainConfig(max_features=max_features or ClassifyExplainConfig().max_features,
                                   shapley=_shapley(exact_up_to, permutations, seed))
    with Collection.open(collection) as target:
        explanation = target.explain_classify(item_id, task, label, config)
    _show(explanation, output_format)


@app.command("recommend")
def explain_recommend(
    collection: CollectionArg,
    item_id: Annotated[str, typer.Argument(help="The id of the recommended item to explain.")],
    user: Annotated[str | None, typer.Option(help="A known user (their history comes from the interactions).")]
        = None,
    history: Annotated[list[str] | None, typer.Option(help="An anonymous history instead: item ids, oldest "
                                                           "first (comma-separated or repeated).")] = None,
    output_format: FormatOption = "table",
    exact_up_to: ExactOption = _DEFAULT_SHAPLEY.exact_up_to,
    permutations: PermutationsOption = _DEFAULT_SHAPLEY.permutations,
    seed: SeedOption = _DEFAULT_SHAPLEY.seed,
) -> None:
    """Which items of a user's history drove a recommendation (the model reads only its most recent items)."""
    _checked(output_format)
    items = split_values(history) if history is not None else None
    with Collection.open(collection) as target:
        explanation = target.explain_recommend(item_id, user, items, _shapley(exact_up_to, permutations, seed))
    _show(explanation, output_format)


@app.command("topic")
def explain_topic(
    collection: CollectionArg,
    topic: Annotated[str, typer.Argument(help="The topic: a value of FIELD (a cluster id from `selfsim cluster "
                                              "--write`).")],
    field: Annotated[str, typer.Option(help="The metadata field that holds the topics.")] = "cluster",
    keywords: Annotated[int, typer.Option(help="How many words to show.")] = 10,
    items: Annotated[int, typer.Option(help="How many items nearest the topic's centre to show.")] = 5,
    output_format: Annotated[str, typer.Option("--format", help="table, json or text.")] = "table",
) -> None:
    """Which words (c-TF-IDF weights) and items (nearest its centre) define a topic."""
    if output_format not in ("table", "json", "text"):
        raise ConfigError(f"unknown format {output_format!r} for a topic; use table, json or text.")
    with Collection.open(collection) as target:
        explained = target.explain_topic(topic, field, keywords, items)
    _show_topic(explained, output_format)


# -- output ------------------------------------------------------------------------------------------


def _show(explanation: Explanation, output_format: str) -> None:
    if output_format == "json":
        print_json(explanation.to_dict())
        return
    if output_format == "html":
        # Raw markup for a page: written as is, never through rich (which would read its brackets).
        sys.stdout.write("\n".join(explanation_html(explanation).values()) + "\n")
        sys.stdout.flush()
        return
    if output_format == "text":
        for side in explanation_sides(explanation):
            console.print(Text(f"{side}:", style="bold"))
            console.print(explanation_highlight(explanation, side, plain))
    else:
        table = Table(title=safe(explanation.target), show_lines=False)
        for column in EXPLANATION_COLUMNS:
            table.add_column(column, justify="right" if column in ("Shapley value", "occlusion") else "left",
                             ratio=1 if column == "feature" else None, overflow="fold")
        for row in explanation_rows(explanation):
            table.add_row(*(safe(cell) for cell in row))
        console.print(table)
    for line in explanation_summary(explanation):
        console.print(Text(plain(line)), soft_wrap=True)


def _show_topic(explained: TopicExplanation, output_format: str) -> None:
    if output_format == "json":
        print_json(explained.to_dict())
        return
    heading = (f"topic {explained.topic} of {explained.field!r}: {explained.size} items "
               f"(word weights against {explained.topics} topics)")
    if output_format == "text":
        console.print(Text(plain(heading), style="bold"), soft_wrap=True)
        console.print(Text(plain("words: " + ", ".join(f"{w} ({v:.4f})" for w, v in explained.words))))
        for item in explained.items:
            console.print(Text(plain(f"{item.id} ({item.similarity:.3f}): {item.snippet}")))
    else:
        words = Table(title=safe(heading))
        words.add_column("word")
        words.add_column("c-TF-IDF weight", justify="right")
        for word, weight in explained.words:
            words.add_row(safe(word), f"{weight:.4f}")
        console.print(words)
        nearest = Table(title="items nearest the topic's centre")
        nearest.add_column("id", overflow="fold")
        nearest.add_column("cosine", justify="right")
        nearest.add_column("text", ratio=1)
        for item in explained.items:
            nearest.add_row(safe(item.id), f"{item.similarity:.3f}", safe(item.snippet))
        console.print(nearest)
    for note in explained.notes:
        console.print(Text(plain(note)), soft_wrap=True)
