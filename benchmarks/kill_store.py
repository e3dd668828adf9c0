"""Kill safety: SIGKILL the real ``selfsim`` command at random moments of index, delete, reindex and adapt,
then run the full check after every kill.

Each round starts one command on the collection, kills it after a random delay (a command that
finished first does not count as a kill), and checks: nothing committed before the command is
lost, each item is either as it was or as the command meant to write it (never a mix), a delete
is all or nothing, and the store is consistent (``store_checks.full_check``: SQLite integrity,
index agreement on open and on disk, every chunk found by its own vector).

With ``--driver api`` (the short form the test suite runs) the killed process is a Python program doing
the same through the library with a feature-hashing encoder, so a round takes a second, not the
time it takes to load a transformer; it has no ``adapt``.

Usage: python benchmarks/kill_store.py [--kills 32] [--ops index,delete,reindex,adapt] [--items 600]
       [--driver cli|api]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_checks import HashingEncoder, consistent, full_check  # noqa: E402

from selfsim import Collection  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "selfsim" / "sample" / "stdlib_docs.jsonl"
SELFSIM = Path(sys.executable).with_name("selfsim")
# How long after it has loaded a library child is killed, in seconds (commands are killed at a random
# point of the second 70% of a calibration run of the same command).
API_WINDOWS = {"index": (0.0, 0.6), "delete": (0.0, 0.02), "reindex": (0.0, 0.1)}


# The library twin of the commands above, for --driver api: argv is OP COLLECTION INTENT.json.
API_CHILD = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from store_checks import HashingEncoder
from selfsim import Collection

op, path, intent = sys.argv[1], sys.argv[2], json.loads(open(sys.argv[3]).read())
collection = Collection.open(path, encoder=HashingEncoder())
print("ready", flush=True)
if op == "index":
    collection.upsert([{{"id": i, "text": t}} for i, t in intent["texts"].items()], batch_size=16)
elif op == "delete":
    collection.delete(intent["victims"])
else:
    collection.set_index(intent["spec"])
collection.close()
"""


def _state(path: Path) -> dict[str, str]:
    with Collection.open(path) as collection:
        return {item.id: item.text for item in collection}


def _signature(path: Path) -> tuple[int, str, str]:
    """Generation, index spec and encoder: when any moved, the command got as far as committing something."""
    with Collection.open(path) as collection:
        info = collection.info()
    return info["generation"], info["index"], info["encoder"]


def _command(op: str, path: Path, rng: random.Random, corpus: list[dict[str, Any]], before: dict[str, str],
             work: Path, round_number: int) -> tuple[list[str], dict[str, Any]]:
    """The command line for ``op`` and what it intends (for checking all-or-nothing afterwards)."""
    if op == "index":
        rows = [dict(row) for row in rng.sample(corpus, 200)]
        for row in rows[::3]:  # a third of them change, so upserts of existing ids are checked too
            row["text"] = f"{row['text']} (revision {round_number})"
        data = work / f"round-{round_number}.jsonl"
        data.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return ([str(SELFSIM), "index", str(path), str(data), "--batch-size", "16"],
                {"texts": {row["id"]: row["text"].strip() for row in rows}})  # indexing strips the text
    if op == "delete":
        victims = rng.sample(sorted(before), min(25, len(before)))
        return [str(SELFSIM), "delete", str(path), *victims], {"victims": victims}
    if op == "reindex":
        spec = rng.choice(["HNSW32", "Flat", "IVF16,Flat"])
        return [str(SELFSIM), "reindex", str(path), "--index", spec], {"spec": spec}
    return ([str(SELFSIM), "adapt", str(path), "--objective", "crops", "--max-steps", "20", "--batch-size", "8",
             "--max-texts", "400", "--threads", "1", "--seed", str(round_number)], {})


def _lost_or_mixed(op: str, intent: dict[str, Any], before: dict[str, str], after: dict[str, str]) -> dict[str, int]:
    """Committed items lost, and items in a state the command could not have left them in."""
    lost = mixed = 0
    if op == "delete":
        victims = set(intent["victims"])
        gone = victims - set(after)
        if gone and gone != victims:
            mixed += len(victims - gone)  # a delete is one transaction: all or none
        lost = len([i for i in before if i not in after and i not in victims])
        mixed += len([i for i in after if i not in before])
        mixed += len([i for i in after if i in before and after[i] != before[i]])
        return {"lost": lost, "mixed": mixed}
    texts = intent.get("texts", {})
    lost = len([i for i in before if i not in after])
    for item_id, text in after.items():
        allowed = {before.get(item_id), texts.get(item_id)} - {None}
        mixed += text not in allowed
    return {"lost": lost, "mixed": mixed}


def _api_command(op: str, path: Path, intent: dict[str, Any], work: Path, round_number: int) -> list[str]:
    intent_file = work / f"intent-{round_number}.json"
    intent_file.write_text(json.dumps(intent))
    return [sys.executable, "-c", API_CHILD, op, str(path), str(intent_file)]


def _start(command: list[str], env: dict[str, str], api: bool) -> subprocess.Popen:
    """Start a round's process; a library child is timed from when it has loaded, a command from its start."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE if api else subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=env)
    if api and child.stdout is not None:
        child.stdout.readline()  # "ready"
    return child


def run(kills: int, ops: list[str], items: int, seed: int = 0, directory: Path | None = None,
        driver: str = "cli") -> dict[str, Any]:
    """Kill commands until ``kills`` of them died mid-run; returns every round and the totals."""
    api = driver == "api"
    rng = random.Random(seed)
    with SAMPLE.open(encoding="utf-8") as handle:
        corpus = [json.loads(line) for line in handle if line.strip()]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(directory or scratch)
        path = work / "kill-collection"
        first = work / "first.jsonl"
        first.write_text("".join(json.dumps(row) + "\n" for row in corpus[:items]))
        if api:
            with Collection.create(path, encoder=HashingEncoder()) as collection:
                collection.add(corpus[:items])
        else:
            subprocess.run([str(SELFSIM), "index", str(path), str(first), "--json"], check=True,
                           capture_output=True)
        rounds: list[dict[str, Any]] = []
        durations: dict[str, float] = {}
        killed = 0
        number = 0
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        while killed < kills:
            op = ops[number % len(ops)]
            number += 1
            before = _state(path)
            signature = _signature(path)
            command, intent = _command(op, path, rng, corpus, before, work, number)
            if api:
                command = _api_command(op, path, intent, work, number)
            if not api and op not in durations:  # calibrate: one run to the end, not counted
                calibration = time.monotonic()
                subprocess.run(command, capture_output=True, env=env)
                durations[op] = time.monotonic() - calibration
                print(f"round {number:3d} {op:8s} ran to the end in {durations[op]:.1f}s (calibration)", flush=True)
                continue
            # Kill anywhere in the second 70% of a full run: the first 30% is loading Python and the model.
            delay = (rng.uniform(*API_WINDOWS[op]) if api else rng.uniform(0.3, 1.0) * durations[op])
            child = _start(command, env, api)
            started = time.monotonic()
            try:
                child.wait(timeout=delay)
                was_killed = False
            except subprocess.TimeoutExpired:
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
                was_killed = True
            stderr = child.stderr.read().decode("utf-8", "replace") if child.stderr else ""
            killed += was_killed
            after = _state(path)
            committed = _signature(path) != signature
            check = full_check(path)
            outcome = _lost_or_mixed(op, intent, before, after)
            rounds.append({"op": op, "killed": was_killed, "after_seconds": round(time.monotonic() - started, 2),
                           "exit_code": child.returncode, "items_before": len(before), "items_after": len(after),
                           "committed_before_the_kill": committed,
                           **outcome, "consistent": consistent(check), "check": check,
                           "stderr": stderr[-500:] if not was_killed and child.returncode else ""})
            print(f"round {number:3d} {op:8s} {'killed' if was_killed else 'finished':8s} after "
                  f"{rounds[-1]['after_seconds']:5.1f}s items {len(before)}->{len(after)} lost {outcome['lost']} "
                  f"mixed {outcome['mixed']} committed {committed} consistent {rounds[-1]['consistent']}", flush=True)
    return {"kills": killed, "rounds": len(rounds), "kills_per_op": {op: sum(r["killed"] for r in rounds
                                                                           if r["op"] == op) for op in ops},
            "lost": sum(r["lost"] for r in rounds), "mixed": sum(r["mixed"] for r in rounds),
            "inconsistent": sum(not r["consistent"] for r in rounds),
            "kills_after_a_commit": sum(r["killed"] and r["committed_before_the_kill"] for r in rounds),
            "full_run_seconds": {op: round(seconds, 1) for op, seconds in durations.items()},
            "failed_without_kill": sum(1 for r in rounds if not r["killed"] and r["exit_code"] != 0),
            "round_details": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=32)
    parser.add_argument("--ops", default="index,delete,reindex,adapt")
    parser.add_argument("--items", type=int, default=600, help="Items indexed before the first kill.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--driver", choices=["cli", "api"], default="cli")
    parser.add_argument("--name", default="kill_store")
    args = parser.parse_args()
    started = time.monotonic()
    result = run(args.kills, args.ops.split(","), args.items, args.seed, driver=args.driver)
    result["driver"] = args.driver
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps({k: v for k, v in result.items() if k != "round_details"}, indent=2))
    from common import write_result

    write_result(args.name, result)
    sys.exit(0 if result["lost"] == result["mixed"] == result["inconsistent"] == 0 else 1)


if __name__ == "__main__":
    main()
