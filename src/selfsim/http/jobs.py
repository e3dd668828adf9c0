"""Background jobs: work too long for one request (topics, classifier fit, recommender training, adapt).

A job runs in a worker thread and is polled with ``GET /api/jobs/{id}``: its state goes
``queued`` -> ``running`` -> ``done`` (with a result) or ``failed`` (with a one-sentence error). A
failure is recorded, never raised into the server; an unexpected one keeps its traceback in the log
only. Jobs live in memory: a restarted server forgets them (what they wrote stays in the collection).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from selfsim.errors import NotFoundError, SelfsimError
from selfsim.http.errors import INTERNAL
from selfsim.http.state import ServedCollection

log = logging.getLogger("selfsim.http.jobs")

JobState = Literal["queued", "running", "done", "failed"]
Progress = Callable[[float], None]
Work = Callable[[Progress], dict[str, Any] | None]


@dataclass
class Job:
    """One background job and where it stands."""

    id: str
    kind: str
    collection: str
    state: JobState = "queued"
    progress: float = 0.0
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's job shape."""
        return {"id": self.id, "kind": self.kind, "collection": self.collection, "state": self.state,
                "progress": self.progress, "result": self.result, "error": self.error}


class JobRunner:
    """Runs jobs in a few worker threads and remembers the last ``keep`` finished ones."""

    def __init__(self, workers: int = 2, keep: int = 200) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="selfsim-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep

    def submit(self, kind: str, served: ServedCollection, work: Work) -> Job:
        """Queue ``work(progress)`` on ``served`` as a job; it returns the job's result (a JSON-ready mapping)
        or None. The collection's directory is named by the collection's name in the result and the error."""
        job = Job(secrets.token_hex(8), kind, served.name)
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
        self._executor.submit(self._run, job, work, str(served.path))
        return job

    def get(self, job_id: str) -> Job:
        """The job with this id; a :class:`NotFoundError` when there is none (or it was forgotten)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return _copy(job) if job is not None else _missing(job_id)

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Poll until the job finishes or ``timeout`` seconds pass; the job as it stands then."""
        deadline = time.monotonic() + timeout
        job = self.get(job_id)
        while job.state in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.02)
            job = self.get(job_id)
        return job

    def shutdown(self) -> None:
        """Drop queued jobs; running ones finish in their threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: Job, work: Work, directory: str) -> None:
        self._update(job, state="running")

        def progress(fraction: float) -> None:
            self._update(job, progress=min(1.0, max(0.0, float(fraction))))

        try:
            result = work(progress)
        except SelfsimError as error:
            self._update(job, state="failed", error=_hide(str(error), directory, job.collection),
                         finished_at=time.time())
        except Exception:
            log.exception("job %s (%s on %r) failed", job.id, job.kind, job.collection)
            self._update(job, state="failed", error=INTERNAL, finished_at=time.time())
        else:
            self._update(job, state="done", progress=1.0, result=_hide(result, directory, job.collection),
                         finished_at=time.time())

    def _update(self, job: Job, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(job, name, value)

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.state in ("done", "failed")]
        for job_id in finished[:max(0, len(finished) - self._keep)]:
            del self._jobs[job_id]


def _hide(value: Any, directory: str, name: str) -> Any:
    """``value`` with the collection's directory replaced by its name, in every string it holds."""
    if isinstance(value, str):
        return value.replace(directory, f"<{name}>")
    if isinstance(value, dict):
        return {key: _hide(item, directory, name) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_hide(item, directory, name) for item in value]
    return value


def _copy(job: Job) -> Job:
    return Job(job.id, job.kind, job.collection, job.state, job.progress, job.result, job.error, job.created_at,
               job.finished_at)


def _missing(job_id: str) -> Job:
    raise NotFoundError(f"no job with id {job_id!r}; jobs are kept in memory only, so it may be from before the "
                        "server restarted.")
