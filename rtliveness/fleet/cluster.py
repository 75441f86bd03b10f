"""The fleet's Ray cluster: join one or start one, check it can hold the fleet, start the
scorers and stream workers, shut it down. Every refusal is one :class:`ConfigError` line (the
model failing to load: its own error type, so its exit code); the controller
(:mod:`rtliveness.fleet.controller`) decides when each step runs.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

from ..errors import ConfigError
from ..runtime.stopsignals import interrupts_held, stop_signals
from .config import FleetConfig
from .remote import our_error, remote_cause

__all__ = ["join_ray", "start_ray", "check_resources", "start_actors", "ray_shutdown", "native_stderr_quiet"]


def _no_usage_stats() -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def join_ray(ray, address: str) -> None:
    """``ray.init`` joining the cluster at ``address``; why not, in one line, when it cannot."""
    _no_usage_stats()
    try:
        with native_stderr_quiet():  # Ray's C++ client prints a warning per retry (a wrong token: 20 lines)
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except Exception as exc:  # noqa: BLE001
        cause = remote_cause(exc)
        if "AuthenticationError" in cause or "RAY_AUTH_MODE" in cause or type(exc).__name__ == "AuthenticationError":
            raise ConfigError(f"the Ray cluster at {address} needs Ray's token authentication: set "
                              "RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN, or the file "
                              "~/.ray/auth_token) on this machine too") from None
        if "ray[client]" in cause:
            raise ConfigError(f"--address {address} is a Ray Client address, which needs "
                              "pip install 'ray[client]'; or give the cluster's HOST:PORT") from None
        raise ConfigError(f"cannot join the Ray cluster at {address}: {cause}; "
                          "start it with 'ray start --head' or omit --address") from None


def start_ray(ray, config: FleetConfig) -> None:
    """A Ray of this fleet's own on this machine, with at least the CPUs the fleet asks for."""
    _no_usage_stats()
    need = config.workers * config.worker_cpus + config.scorers * config.scorer_cpus
    # Ctrl+C, SIGTERM or SIGHUP inside ray.init starting Ray could crash the driver (exit -11) or
    # leave Ray's agents running: held, they interrupt once it has returned (a few seconds), and
    # the fleet shuts Ray down. Joining a cluster (join_ray) starts nothing and can retry for 25 s: not held
    with interrupts_held():
        # "local": a Ray of its own, even where another one runs on this machine (with no
        # address ray.init joins the latest one started here, then refuses num_cpus: a bare
        # "unexpected ValueError" for anyone who had run 'ray start --head')
        ray.init(address="local", num_cpus=max(os.cpu_count() or 1, int(math.ceil(need))),
                 logging_level="ERROR", log_to_driver=False, include_dashboard=False)


def check_resources(ray, config: FleetConfig, gpus: float) -> None:
    """Ray waits for ever for an actor it cannot place: refuse a fleet the cluster cannot hold,
    counting what is free now (another fleet or job may hold part of a joined cluster)."""
    c = config
    need_cpu = c.workers * c.worker_cpus + c.scorers * c.scorer_cpus
    need_gpu = c.scorers * gpus
    total, free = ray.cluster_resources(), ray.available_resources()
    have_cpu, have_gpu = float(free.get("CPU", 0.0)), float(free.get("GPU", 0.0))
    if have_cpu + 1e-9 < need_cpu or have_gpu + 1e-9 < need_gpu:
        busy = (float(total.get("CPU", 0.0)) > have_cpu + 1e-9) or (float(total.get("GPU", 0.0)) > have_gpu + 1e-9)
        raise ConfigError(
            f"the Ray cluster has {have_cpu:g} CPUs and {have_gpu:g} GPUs free"
            + (f" (of {float(total.get('CPU', 0.0)):g} and {float(total.get('GPU', 0.0)):g}: other jobs hold the rest)" if busy else "")
            + f"; this fleet needs {need_cpu:g} CPUs "
            f"(--workers {c.workers} x --worker-cpus {c.worker_cpus:g} + {c.scorers} scorer x {c.scorer_cpus:g})"
            + (f" and {need_gpu:g} GPUs (--device {c.device})" if need_gpu else "")
            + ": lower --workers / --worker-cpus, wait for the other jobs, or add nodes")


def start_actors(ray, config: FleetConfig) -> tuple[list, list, list[dict]]:
    """The scorers (the model loaded once each) and the stream workers, every one answering:
    ``(scorers, workers, the workers' info)``."""
    from .actors import ScorerActor, StreamWorker

    gpus = config.scorer_gpus
    if gpus is None:
        gpus = 1.0 if str(config.device).startswith("cuda") else 0.0
    check_resources(ray, config, gpus)
    weights = None if config.weights is None else str(Path(config.weights).resolve())
    run_id = f"{os.getpid()}-{int(time.time() * 1000)}"
    names = [f"rtliveness-scorer-{run_id}-{k}" for k in range(config.scorers)]
    scorers = [
        ScorerActor.options(name=n, num_cpus=config.scorer_cpus, num_gpus=gpus).remote(
            weights, config.device, config.backend, config.max_batch, config.batch_wait_ms / 1000.0)
        for n in names
    ]
    try:
        ray.get([s.meta.remote() for s in scorers])
    except Exception as exc:  # noqa: BLE001 - the model failed to load: one line, our error's own type (exit code)
        kind, text = our_error(remote_cause(exc))
        raise kind(f"the scorer could not load the model: {text}") from None
    worker_device = "cpu" if str(config.device).startswith("cuda") else config.device
    workers = [
        StreamWorker.options(num_cpus=config.worker_cpus, scheduling_strategy="SPREAD").remote(
            names, config.detector, config.threshold, config.security, worker_device,
            low_light_target=config.low_light_target, tracker=config.tracker)
        for _ in range(config.workers)
    ]
    infos = []
    for w in workers:
        try:
            infos.append(ray.get(w.info.remote()))
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"a stream worker failed to start: {remote_cause(exc)}") from None
    return scorers, workers, infos


def ray_shutdown(ray) -> None:
    """``ray.shutdown()``, then the process's signal handlers set again: Ray's native shutdown
    leaves SIGTERM at its default action beneath Python (which still reports our handler), so a
    second SIGTERM while the fleet finished killed the driver (exit 143, no final line)."""
    ray.shutdown()
    if threading.current_thread() is threading.main_thread():
        for sig in stop_signals():
            handler = signal.getsignal(sig)
            if handler is not None:
                with contextlib.suppress(ValueError, OSError):
                    signal.signal(sig, handler)


@contextlib.contextmanager
def native_stderr_quiet():
    """File descriptor 2 sent to /dev/null while inside: what native code writes there (Ray's
    C++ log lines) is dropped; Python's own errors still come back as exceptions."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (an embedding host): nothing to quiet
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
