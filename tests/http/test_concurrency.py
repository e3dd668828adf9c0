"""Many requests at once on one shared collection handle: no 5xx, and the items left are exactly the
acknowledged writes (nothing lost, nothing resurrected), with the vector index agreeing."""

from __future__ import annotations

import random
import threading
from typing import Any

from live_server import Server

THREADS = 8
ROUNDS = 4


def _worker(served: Server, number: int, acknowledged: dict[str, str | None], failures: list[str],
            lock: threading.Lock) -> None:
    """Search, upsert a few items of its own, label one, delete some of them; record what the server acknowledged."""
    rng = random.Random(number)
    with served.client("write") as client:
        for round_ in range(ROUNDS):
            ids = [f"w{number}-{i}" for i in range(3)]
            texts = {item_id: f"worker {number} round {round_} note {item_id} about {rng.choice(['tea', 'zip'])}"
                     for item_id in ids}
            answers: list[Any] = [
                client.post(served.url("/search"), json={"query": "compress a file", "k": 5,
                                                         "mode": rng.choice(["hybrid", "dense", "keyword"])}),
                client.post(served.url("/items"), json={"items": [{"id": i, "text": t} for i, t in texts.items()]}),
            ]
            if answers[-1].status_code == 200:
                with lock:
                    acknowledged.update(texts)
            answers.append(client.post(served.url("/labels"), json={"task": "load", "labels": [
                {"id": ids[0], "label": f"l{round_ % 2}"}]}))
            gone = rng.sample(ids, rng.randint(1, 2))
            answers.append(client.post(served.url("/items/delete"), json={"ids": gone}))
            if answers[-1].status_code == 200:
                with lock:
                    for item_id in answers[-1].json()["deleted"]:
                        acknowledged[item_id] = None
            answers.append(client.get(served.url("/items"), params={"limit": 20, "offset": rng.randint(0, 100)}))
            answers.append(client.get(served.url(f"/items/{ids[0]}/neighbours"), params={"k": 3}))
            for answer in answers:
                if answer.status_code >= 500 or (answer.status_code != 200 and answer.request.url.path.endswith(
                        ("/search", "/items", "/labels", "/delete"))):
                    failures.append(f"{answer.request.method} {answer.request.url.path}: {answer.status_code} "
                                    f"{answer.text}")


def test_concurrent_searches_and_writes_keep_the_collection_consistent(served: Server) -> None:
    acknowledged: dict[str, str | None] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def work(number: int) -> None:
        try:
            _worker(served, number, acknowledged, failures, lock)
        except Exception as error:  # a worker that dies must fail the test, not vanish
            failures.append(f"worker {number}: {error!r}")

    workers = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert not failures, failures[:5]
    with served.client() as client:
        for item_id, text in acknowledged.items():
            answer = client.get(served.url(f"/items/{item_id}"))
            if text is None:
                assert answer.status_code == 404, item_id
            else:
                assert answer.status_code == 200 and answer.json()["text"] == text, item_id
        info = client.get(served.url()).json()
    assert info["index_agrees"], info
    assert "Traceback" not in served.log_text()
