"""Multi-worker data-parallel training: joining a cluster and launching local workers.

A training program joins its cluster once, first thing, before it builds a model or
runs any TensorFlow or JAX operation::

    from rnnkit.training import distributed, pretrain
    cluster = distributed.init_from_env()      # None when the environment names no cluster
    pretrain(build, "corpus/", checkpoint_dir="ckpt", distribute=True)

The cluster comes from the environment:

- TensorFlow: ``TF_CONFIG`` (``{"cluster": {"worker": ["host:port", ...]}, "task":
  {"type": "worker", "index": i}}``); one ``tf.distribute.MultiWorkerMirroredStrategy``
  over every worker's devices (GPUs, else the CPU).
- JAX: ``RNNKIT_COORDINATOR`` (``host:port`` of process 0's coordination service),
  ``RNNKIT_NUM_PROCESSES`` and ``RNNKIT_PROCESS_ID``, passed to
  ``jax.distributed.initialize``; without them, worker 0's address in ``TF_CONFIG`` is the
  coordinator. On CPU the cross-process collectives are gloo's.
- PyTorch: multi-worker training is not supported (a ValueError).

:func:`launch_local` starts ``n`` workers of a command on 127.0.0.1 with free ports and
both sets of variables, for tests and for N processes on one machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ENV_COORDINATOR = "RNNKIT_COORDINATOR"
ENV_NUM_PROCESSES = "RNNKIT_NUM_PROCESSES"
ENV_PROCESS_ID = "RNNKIT_PROCESS_ID"


@dataclass(frozen=True)
class Cluster:
    """The multi-worker cluster this process belongs to.

    Attributes:
        num_workers: number of worker processes.
        worker_index: this process's index in ``[0, num_workers)``; worker 0 is the chief
            (it alone writes checkpoints).
        backend: the Keras backend (``"tensorflow"`` or ``"jax"``).
        strategy: the ``tf.distribute.MultiWorkerMirroredStrategy`` (TensorFlow), else None.
    """

    num_workers: int
    worker_index: int
    backend: str
    strategy: Any = None

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0


_CLUSTER: Cluster | None = None


def current_cluster() -> Cluster | None:
    """The cluster joined by :func:`init_from_env` in this process (None if none)."""
    return _CLUSTER


def cluster_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int, str | None]:
    """``(num_workers, worker_index, coordinator)`` described by the environment.

    ``(1, 0, None)`` when the environment describes no cluster.

    Args:
        env: the environment (default ``os.environ``).

    Returns:
        The number of workers, this worker's index and the JAX coordinator address.

    Example:

    >>> cluster_from_env({"RNNKIT_COORDINATOR": "10.0.0.1:1234",
    ...                   "RNNKIT_NUM_PROCESSES": "2", "RNNKIT_PROCESS_ID": "1"})
    (2, 1, '10.0.0.1:1234')
    """
    env = os.environ if env is None else env
    if env.get(ENV_COORDINATOR) or env.get(ENV_NUM_PROCESSES) or env.get(ENV_PROCESS_ID):
        missing = [
            k for k in (ENV_COORDINATOR, ENV_NUM_PROCESSES, ENV_PROCESS_ID) if not env.get(k)
        ]
        if missing:
            raise ValueError(
                f"{', '.join(missing)} not set: a multi-worker run needs {ENV_COORDINATOR} "
                f"(host:port), {ENV_NUM_PROCESSES} and {ENV_PROCESS_ID} together."
            )
        try:
            n, i = int(env[ENV_NUM_PROCESSES]), int(env[ENV_PROCESS_ID])
        except ValueError:
            raise ValueError(
                f"{ENV_NUM_PROCESSES} and {ENV_PROCESS_ID} must be integers, got "
                f"{env[ENV_NUM_PROCESSES]!r} and {env[ENV_PROCESS_ID]!r}."
            ) from None
        _check_index(n, i, ENV_PROCESS_ID)
        return n, i, env[ENV_COORDINATOR]
    if env.get("TF_CONFIG"):
        workers, i = _parse_tf_config(env["TF_CONFIG"])
        return len(workers), i, workers[0]
    return 1, 0, None


def _check_index(n: int, i: int, name: str) -> None:
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"{name}={i} must be in [0, {n}) for a cluster of {n} workers.")


def _parse_tf_config(text: str) -> tuple[list[str], int]:
    try:
        config = json.loads(text)
        workers = list(config["cluster"]["worker"])
        task = config["task"]
        i = int(task["index"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(
            'TF_CONFIG must be JSON like {"cluster": {"worker": ["host:port", ...]}, '
            f'"task": {{"type": "worker", "index": 0}}}}, got {text!r}.'
        ) from None
    if task.get("type", "worker") not in ("worker", "chief"):
        raise ValueError(f"TF_CONFIG task type must be 'worker', got {task.get('type')!r}.")
    if "chief" in config["cluster"] or "ps" in config["cluster"]:
        raise ValueError(
            "TF_CONFIG: rnnkit runs all-reduce data parallelism over 'worker' tasks only "
            "(worker 0 is the chief); remove the 'chief'/'ps' entries."
        )
    _check_index(len(workers), i, "TF_CONFIG task index")
    return workers, i


def init_from_env(env: Mapping[str, str] | None = None, *, verbose: int = 0) -> Cluster | None:
    """Joins the cluster described by the environment (see the module docstring).

    Call it once at program start, before any model, tensor or dataset is created
    (TensorFlow's collectives and JAX's distributed runtime must be set up first). A
    second call returns the same cluster.

    Args:
        env: the environment (default ``os.environ``).
        verbose: print the cluster this process joined.

    Returns:
        The :class:`Cluster`, or None when the environment describes a single process.

    Raises:
        ValueError: an incomplete or malformed description, or the PyTorch backend with
            more than one worker.

    Example:

    >>> cluster = init_from_env()  # doctest: +SKIP
    >>> cluster.num_workers, cluster.worker_index  # doctest: +SKIP
    (2, 0)
    """
    global _CLUSTER
    if _CLUSTER is not None:
        return _CLUSTER
    env = os.environ if env is None else env
    n, i, coordinator = cluster_from_env(env)
    if n == 1 and coordinator is None:
        return None
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        if not env.get("TF_CONFIG"):
            raise ValueError(
                "Multi-worker training on TensorFlow reads the cluster from TF_CONFIG "
                "(every worker's host:port); it is not set."
            )
        import tensorflow as tf

        if "TF_CONFIG" not in os.environ:  # the strategy reads os.environ
            os.environ["TF_CONFIG"] = env["TF_CONFIG"]
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        _CLUSTER = Cluster(n, i, backend, strategy)
    elif backend == "jax":
        import jax

        if "jax_cpu_collectives_implementation" in jax.config.values:
            # CPU devices of different processes talk through gloo (other platforms
            # ignore this setting).
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=n, process_id=i)
        _CLUSTER = Cluster(n, i, backend)
    else:
        raise ValueError(
            f"Multi-worker training supports the tensorflow and jax backends, got {backend!r} "
            f"(the environment describes {n} workers)."
        )
    if verbose:
        print(f"Joined a cluster of {n} workers as worker {i} ({backend}).")
    return _CLUSTER


def allgather_int(value: int) -> list[int]:
    """Every worker's ``value``, in worker order (``[value]`` outside a cluster).

    A collective: every worker must call it at the same point.

    Args:
        value: this worker's integer.

    Returns:
        The list of all workers' values.

    Example:

    >>> allgather_int(3)  # outside a cluster
    [3]
    """
    cluster = _CLUSTER
    if cluster is None or cluster.num_workers == 1:
        return [int(value)]
    import numpy as np

    if cluster.backend == "jax":
        from jax.experimental import multihost_utils

        gathered = multihost_utils.process_allgather(np.array([value], dtype=np.int64))
        return [int(v) for v in np.asarray(gathered).reshape(-1)]
    import tensorflow as tf

    strategy = cluster.strategy
    onehot = np.zeros(cluster.num_workers, np.int64)
    onehot[cluster.worker_index] = value

    def replica_fn() -> Any:
        ctx = tf.distribute.get_replica_context()
        # only the first local replica contributes, so each worker counts once
        first = tf.cast(ctx.replica_id_in_sync_group % _local_replicas(strategy) == 0, tf.int64)
        return ctx.all_reduce("sum", tf.constant(onehot) * first)

    out = strategy.run(replica_fn)
    return [int(v) for v in strategy.experimental_local_results(out)[0].numpy()]


def _local_replicas(strategy: Any) -> int:
    return max(1, len(strategy.extended.worker_devices))


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports free on ``host`` right now."""
    sockets, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            sockets.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


def worker_envs(n: int, host: str = "127.0.0.1") -> list[dict[str, str]]:
    """The environment variables of ``n`` workers on ``host``: ``TF_CONFIG`` (one port per
    worker) and ``RNNKIT_COORDINATOR`` / ``RNNKIT_NUM_PROCESSES`` / ``RNNKIT_PROCESS_ID``
    (worker 0's coordinator on one more port).

    Example:

    >>> [e["RNNKIT_PROCESS_ID"] for e in worker_envs(2)]
    ['0', '1']
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"The number of workers must be a positive integer, got {n!r}.")
    ports = free_ports(n + 1, host)
    workers = [f"{host}:{p}" for p in ports[:n]]
    coordinator = f"{host}:{ports[n]}"
    return [
        {
            "TF_CONFIG": json.dumps(
                {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
            ),
            ENV_COORDINATOR: coordinator,
            ENV_NUM_PROCESSES: str(n),
            ENV_PROCESS_ID: str(i),
        }
        for i in range(n)
    ]


def launch_local(
    n: int,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    log_dir: str | os.PathLike | None = None,
) -> list[int]:
    """Runs ``n`` workers of ``argv`` on 127.0.0.1 and waits for them.

    Each worker gets the variables of :func:`worker_envs` on top of ``env`` (default
    ``os.environ``). When a worker fails, or ``timeout`` seconds pass, the others are
    terminated (a worker alone would wait forever for its peers' collectives).

    Args:
        n: number of workers.
        argv: the command, e.g. ``[sys.executable, "train.py"]``; a first element
            ``"python"`` runs the current interpreter.
        env: base environment of the workers.
        timeout: seconds before all workers are killed (None: no limit).
        log_dir: write worker ``i``'s stdout and stderr to ``log_dir/worker-i.log``
            instead of this process's.

    Returns:
        The workers' exit codes in worker order (negative: killed by that signal).

    Example:

    >>> launch_local(2, ["python", "train.py"])  # doctest: +SKIP
    [0, 0]
    """
    argv = list(argv)
    if not argv:
        raise ValueError("`argv` must name the command to run.")
    if argv[0] == "python":
        argv[0] = sys.executable
    base = dict(os.environ if env is None else env)
    logs = []
    procs = []
    try:
        for i, extra in enumerate(worker_envs(n)):
            out = None
            if log_dir is not None:
                os.makedirs(log_dir, exist_ok=True)
                out = open(os.path.join(log_dir, f"worker-{i}.log"), "wb")  # noqa: SIM115
                logs.append(out)
            procs.append(subprocess.Popen(argv, env={**base, **extra}, stdout=out, stderr=out))
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            codes = [p.poll() for p in procs]
            if all(c is not None for c in codes):
                return [int(c) for c in codes]
            failed = any(c not in (None, 0) for c in codes)
            if failed or (deadline is not None and time.monotonic() > deadline):
                break
            time.sleep(0.1)
        for p in procs:
            if p.poll() is None:
                p.kill()
        return [int(p.wait()) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in logs:
            f.close()
