"""Crash safety: a writer killed with SIGKILL mid-ingest leaves whole batches, all findable.

A child process upserts many short records in small batches with the default encoder; the
test watches the SQLite file through a read-only connection, kills the child once a few
batches are committed, and reopens the collection.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from selfsim import Collection
from selfsim.encoders.base import Encoder

TOTAL = 3000
BATCH = 50
KILL_AFTER = 3 * BATCH  # committed items to wait for before the kill

CHILD = textwrap.dedent("""
    import sys

    from selfsim import Collection

    COLOURS = ["red", "green", "blue", "amber", "violet", "silver", "olive", "coral", "teal", "ivory", "plum"]
    THINGS = ["kettle", "lantern", "bicycle", "compass", "teapot", "anchor", "violin", "glacier", "harbour"]

    def records():
        for i in range({total}):
            yield {{"id": f"r{{i}}", "text": f"note {{i}}: the {{COLOURS[i % 11]}} {{THINGS[i % 9]}} number {{i}}",
                    "n": i}}

    collection = Collection.open_or_create(sys.argv[1])
    print("ready", flush=True)
    collection.upsert(records(), batch_size={batch})
    collection.close()
    print("finished", flush=True)
""").format(total=TOTAL, batch=BATCH)


def _committed(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM items").fetchone()[0])
    except sqlite3.Error:  # not created yet, or the schema is still being written
        return 0


def test_a_killed_writer_leaves_only_whole_batches(tmp_path: Path, encoder: Encoder) -> None:
    script = tmp_path / "writer.py"
    script.write_text(CHILD, encoding="utf-8")
    directory = tmp_path / "crashed"
    database = directory / "collection.sqlite"
    child = subprocess.Popen([sys.executable, str(script), str(directory)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        count = 0
        while time.monotonic() < deadline and child.poll() is None:
            count = _committed(database)
            if count >= KILL_AFTER:
                break
            time.sleep(0.02)
        assert child.poll() is None, f"the writer ended before it could be killed: {child.communicate()}"
        assert count >= KILL_AFTER, "the writer committed too little in time"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    with Collection.open(directory, encoder=encoder) as collection:
        stored = len(collection)
        assert KILL_AFTER <= stored < TOTAL
        assert stored % BATCH == 0  # no half batch
        assert collection.info()["generation"] == stored // BATCH  # one transaction per batch
        assert collection.info()["chunks"] == stored
        ids = [item.id for item in collection]
        assert ids == [f"r{i}" for i in range(stored)]  # every committed id, in order, gettable
        for i in (0, stored // 2, stored - 1):
            assert collection.get(f"r{i}").metadata == {"n": i}

        last = collection.get(f"r{stored - 1}")
        assert collection.search(last.text, k=1, mode="dense")[0].id == last.id
        assert collection.search(last.text, k=1, mode="keyword")[0].id == last.id
        assert collection.search(last.text, k=1)[0].id == last.id

        # the collection takes writes again after the crash
        collection.upsert([{"id": f"r{stored}", "text": f"note {stored}: written after the crash", "n": stored}])
        assert len(collection) == stored + 1
        assert collection.search("written after the crash", k=1, mode="keyword")[0].id == f"r{stored}"
