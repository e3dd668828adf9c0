"""`selfsim train`, `selfsim adapt` and `selfsim eval sts` on a tiny model, and their one-sentence errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tiny_text import TINY_DOCUMENTS, TINY_TEXTS
from typer.testing import CliRunner

from selfsim.cli.main import app, main

SCORES = [0.1, 0.5, 0.9, 0.3, 0.2, 0.7, 0.4, 0.6, 0.8, 1.0, 0.0, 0.5]


@pytest.fixture
def sts_file(tmp_path: Path) -> Path:
    path = tmp_path / "sts.tsv"
    rows = [f"{5 * s}\t{a}\t{b}" for a, b, s in zip(TINY_TEXTS, TINY_TEXTS[1:] + TINY_TEXTS[:1], SCORES,
                                                     strict=True)]
    path.write_text("score\tsentence1\tsentence2\n" + "\n".join(rows) + "\n")
    return path


def test_train_with_sts_validation_then_eval_sts_on_the_output(tiny_model_dir: Path, sts_file: Path,
                                                             tmp_path: Path) -> None:
    runner = CliRunner()
    output = tmp_path / "model"
    result = runner.invoke(app, ["train", str(sts_file), "-o", str(output), "--objective", "cosent",
                                 "--base", str(tiny_model_dir), "--max-steps", "3", "--batch-size", "4",
                                 "--valid-sts", str(sts_file), "--option", "scale=10", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert report["steps"] == 3 and "sts_spearman" in report["best_metrics"]
    scored = runner.invoke(app, ["eval", "sts", str(sts_file), "--encoder", str(output), "--backend", "torch",
                                 "--json"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["spearman"] == pytest.approx(report["best_metrics"]["sts_spearman"], abs=0.01)


def test_find_lr_and_curve_sizes(tiny_model_dir: Path, sts_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    found = runner.invoke(app, ["train", str(sts_file), "-o", str(tmp_path / "lr"), "--base", str(tiny_model_dir),
                                "--batch-size", "4", "--find-lr", "--find-lr-steps", "20", "--json"])
    assert found.exit_code == 0, found.output
    result = json.loads(found.stdout[found.stdout.index("{"):])
    assert result["rates"][0] < result["suggested"] < 1e-2 and (tmp_path / "lr" / "lr_find.png").exists()
    curve = runner.invoke(app, ["train", str(sts_file), "-o", str(tmp_path / "c"), "--base", str(tiny_model_dir),
                                "--batch-size", "4", "--max-steps", "2", "--valid-sts", str(sts_file),
                                "--curve-sizes", "4,8", "--json"])
    assert curve.exit_code == 0, curve.output
    points = json.loads(curve.stdout[curve.stdout.index("{"):])["points"]
    assert [p["size"] for p in points] == [4, 8] and (tmp_path / "c" / "size_curve.png").exists()


def test_adapt_command_switches_the_collection(tiny_model_dir: Path, tmp_path: Path) -> None:
    from selfsim import Collection

    with Collection.create(tmp_path / "c", encoder=str(tiny_model_dir)) as collection:
        collection.add([{"id": str(i), "text": d} for i, d in enumerate(TINY_DOCUMENTS)])
    result = CliRunner().invoke(app, ["adapt", str(tmp_path / "c"), "--objective", "simcse", "--max-steps", "2",
                                      "--batch-size", "4", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    with Collection.open(tmp_path / "c") as reopened:
        assert reopened.info()["encoder"] == str(Path(report["model_dir"]).resolve())


@pytest.mark.parametrize(("arguments", "sentence"), [
    (["train", "{sts}", "-o", "{out}", "--objective", "triplet"], "has no column negative"),
    (["train", "{sts}", "-o", "{out}", "--objective", "cosine", "--kind", "pairs"],
     "the cosine objective needs scored pairs"),
    (["train", "{sts}", "-o", "{out}", "--objective", "magic"], "no objective called 'magic'"),
    (["train", "{missing}", "-o", "{out}"], "does not exist"),
    (["train", "{sts}", "-o", "{out}", "--option", "scale"], "is not key=value"),
    (["eval", "sts", "{missing}"], "does not exist"),
    (["adapt", "{out}", "--objective", "cosine"], "needs a training file"),
])
def test_user_errors_end_in_one_sentence(arguments: list[str], sentence: str, sts_file: Path, tmp_path: Path,
                                         tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    values = {"sts": str(sts_file), "out": str(tmp_path / "out"), "missing": str(tmp_path / "missing.tsv")}
    argv = [a.format(**values) for a in arguments]
    if argv[0] == "train":
        argv += ["--base", str(tiny_model_dir)]
    monkeypatch.setattr(sys, "argv", ["selfsim", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and sentence in errors[0] and errors[0].rstrip().endswith(".")
