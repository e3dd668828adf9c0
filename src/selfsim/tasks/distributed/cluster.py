"""Connecting to a Ray cluster, or starting a local one, for the length of one job."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from selfsim.errors import ConfigError

LOCAL = "local"  # the address that starts a cluster on this machine (also what ``--ray`` alone means)


def require_ray() -> Any:
    """The ``ray`` module, or a clear error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("Ray is not installed; install the extra with pip install 'selfsim[ray]', or leave "
                          "out --ray to run on this machine alone.") from None
    return ray


@contextmanager
def ray_session(address: str | None = LOCAL, num_cpus: int | None = None) -> Iterator[Any]:
    """Yield ``ray`` connected to ``address`` (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``), or to a new local
    cluster with ``num_cpus`` (default: this machine's cores) when ``address`` is ``local`` or None.

    A session already open in this process (a test's cluster, a notebook's) is used as it is; a cluster
    this call started or joined is left again when the block ends.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
             "configure_logging": False}
    try:
        if address in (None, LOCAL):
            ray.init(num_cpus=num_cpus or len(os.sched_getaffinity(0)), **quiet)
        else:
            ray.init(address=address, **quiet)
    except ConnectionError as error:
        raise ConfigError(f"no Ray cluster answers at {address} ({error}); start one with ray start --head, "
                          "or give --ray alone for a local cluster.") from None
    quiet_data()
    try:
        yield ray
    finally:
        ray.shutdown()


def quiet_data() -> None:
    """Turn off Ray Data's progress bars and per-operator log lines (a command prints its own progress)."""
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # before the switch, which itself logs a warning
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False


def cluster_cpus() -> int:
    """The CPUs of the connected cluster (at least 1)."""
    ray = require_ray()
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
