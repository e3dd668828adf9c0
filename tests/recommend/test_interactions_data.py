"""Reading interaction files and the leave-one-out split, on small hand-made logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfsim.data.interactions import (
    InteractionLog,
    InteractionReadConfig,
    collect_interactions,
    leave_one_out,
    read_log,
)
from selfsim.errors import InputError


def test_sequence_file_keeps_line_order(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_text("u1 a b c d\nu2 b c\n\nu1 e\n")
    log = read_log(path)
    assert log.users == ["u1", "u2"]
    assert [log.items[i - 1] for i in log.history("u1")] == ["a", "b", "c", "d", "e"]
    assert log.n_items == 5 and log.n_interactions == 7


def test_events_are_ordered_by_time_per_user(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user,item,timestamp,event,weight\n"
                    "u1,007,30,view,1\nu1,b,10,buy,2.5\nu2,b,5,,\nu1,c,2024-01-01T00:00:00,view,1\n")
    interactions, skipped = collect_interactions([path])
    assert not skipped
    assert interactions[1].event == "buy" and interactions[1].weight == 2.5
    log = InteractionLog.from_interactions(interactions)
    assert [log.items[i - 1] for i in log.history("u1")] == ["b", "007", "c"]  # ids stay text: "007" not 7


def test_jsonl_events_and_custom_fields(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"who": 1, "what": 2, "when": 1}\n{"who": 1, "what": 3, "when": 0}\n')
    config = InteractionReadConfig(user_field="who", item_field="what", time_field="when")
    log = InteractionLog.from_interactions(collect_interactions([path], config)[0])
    assert log.users == ["1"] and [log.items[i - 1] for i in log.history("1")] == ["3", "2"]


@pytest.mark.parametrize(("name", "content", "where", "words"), [
    ("bad.jsonl", '{"user": "u", "item": "i", "timestamp": 1}\n{"user": "u", "item": \n', "bad.jsonl line 2",
     "is not valid JSON"),
    ("bad.jsonl", '{"user": "u", "timestamp": 1}\n', "bad.jsonl line 1", "has no 'item' field"),
    ("bad.csv", "user,item,timestamp\nu,i,yesterday\n", "bad.csv line 2", "neither a number nor an ISO date"),
    ("bad.txt", "u1 a b\nu2\n", "bad.txt line 2", "has a user ('u2') but no items"),
])
def test_malformed_lines_name_file_and_line(tmp_path: Path, name: str, content: str, where: str, words: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        collect_interactions([path])
    message = str(caught.value)
    assert message.startswith(where) and words in message and message.endswith(".")
    assert message.count(".") >= 1 and "\n" not in message
    good, skipped = collect_interactions([path], InteractionReadConfig(on_error="skip"))
    assert len(skipped) == 1


def test_missing_column_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("person,item,timestamp\nu,i,1\n")
    with pytest.raises(InputError, match=r"has no 'user' column .* --user-field\.$"):
        collect_interactions([path])


def test_leave_one_out_on_a_hand_made_log() -> None:
    log = InteractionLog.from_sequences({"a": ["x", "y", "z", "w"], "b": ["y", "x"], "c": ["z", "x", "y"]})
    split = leave_one_out(log)
    x, y, z, w = (log.item_index(i) for i in "xyzw")
    assert split.train[0].tolist() == [x, y] and split.valid_targets[0] == z and split.test_targets[0] == w
    assert split.train[1].tolist() == [y, x] and split.valid_targets[1] == 0 and split.test_targets[1] == 0
    assert split.train[2].tolist() == [z] and split.valid_targets[2] == x and split.test_targets[2] == y
    assert split.test_histories()[0].tolist() == [x, y, z]
    assert split.scored_users.tolist() == [0, 2]
    assert np.all([t not in h for h, t in zip(split.train, split.test_targets, strict=True) if t])
