"""A run on a Ray cluster: connecting, the workers, the preflight, and calls that survive failures.

Contract:
- ``connect(cfg)`` (``executor: {kind: ray}`` or ``ragbench run --ray ADDRESS``) returns a
  :class:`Cluster`, or raises :class:`ClusterError` with one line saying why: Ray is not
  installed (naming the extra ``ragbench[ray]``), no cluster for ``auto``, an address that does
  not answer within ``connect_timeout_s`` (checked with a plain TCP connection first, because
  ``ray.init`` waits minutes for a dead address), or workers that do not start. It connects once
  per process (a new address disconnects the old one; a connection the user made with
  ``ray.init`` is used as it is) and keeps its workers for later runs of the process: one Ray
  actor (:class:`~ragbench.experiment.ray_worker.Worker`) per worker slot, ``cfg.workers`` or
  one per CPU of every node alive, pinned to those nodes (they reserve no CPU of Ray's). A worker
  whose process dies restarts on its node and Ray retries its calls; one whose node dies is
  replaced by a new worker on the node alive with the fewest, and its calls go again.
- ``disconnect()`` leaves the cluster ``connect`` joined (a connection of the user's is left).
- ``cluster.check(needs)`` runs ``ray_worker.preflight`` once on every node and raises one
  :class:`ClusterError` naming each node and what it lacks.
- :class:`Calls` runs actor calls over the workers, at most ``limit`` in flight per worker (the
  least busy first), and yields each result once, as it completes: a call lost with a worker that
  is gone for good goes to another worker (at most ``ATTEMPTS`` times), so no result is lost and
  none comes twice; an exception raised by ragbench code on a worker is raised here as itself.
  Closing it cancels the calls in flight.

The driver stays the only writer of the results file: workers return what they computed and
``ray_stages`` commits it through the stages' usual batch writer.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import socket
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragbench.config.components import ExecutorConfig
from ragbench.experiment.ray_worker import Needs, Worker, preflight

#: A call lost with a worker is sent again this many times in all before the run fails.
ATTEMPTS = 4
#: Seconds to wait for the workers to start (each imports the ragbench stack once).
START_TIMEOUT_S = 600.0
#: Threads per worker: the most ``concurrency`` allows (calls in flight are bounded by Calls).
MAX_CONCURRENCY = 64


class ClusterError(RuntimeError):
    """The cluster cannot run this run; the message is one line saying why."""


@dataclass
class Cluster:
    """A connection and its workers (see the module docstring)."""

    address: str
    workers: list[Any]  # actor handles
    nodes: list[str]  # node ids of the workers, in the same order
    alive: list[bool] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """What the run's provenance records about where it ran."""
        return {
            "kind": "ray",
            "ray": _version("ray"),
            "address": self.address,
            "nodes": len({self.nodes[i] for i in self.live()}),
            "workers": len(self.live()),
        }

    def live(self) -> list[int]:
        return [i for i, ok in enumerate(self.alive) if ok]

    def replace(self, worker: int) -> None:
        """Worker ``worker`` is gone for good (its node died): a new one takes its place on the
        node alive with the fewest workers (none is left when no node is alive)."""
        import ray

        self.alive[worker] = False
        alive = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
        if not alive:
            return
        count = {node: 0 for node in alive}
        for i in self.live():
            if self.nodes[i] in count:
                count[self.nodes[i]] += 1
        node = min(alive, key=lambda n: (count[n], n))
        self.workers[worker], self.nodes[worker] = _worker(node), node
        self.alive[worker] = True

    def check(self, needs: Needs) -> None:
        """Run the preflight on every node alive; one line naming what each node lacks."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        task = ray.remote(preflight)
        nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
        refs = [
            task.options(
                num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
            ).remote(needs)
            for node in nodes
        ]
        try:
            found = ray.get(refs, timeout=START_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - e.g. a node without ragbench at all
            raise ClusterError(f"the preflight on the Ray nodes failed: {_cause(exc)}") from exc
        lacking = [
            f"node {node[:12]}: {'; '.join(problems)}"
            for node, problems in zip(nodes, found, strict=True)
            if problems
        ]
        if lacking:
            raise ClusterError(f"Ray node(s) lack what this run needs: {' | '.join(lacking)}")


_STATE: dict[str, Any] = {"address": None, "clusters": {}}


def connect(cfg: ExecutorConfig) -> Cluster:
    """Connect to the cluster ``cfg`` names and start (or reuse) its workers; see the module
    docstring for the errors."""
    try:
        import ray
    except ImportError:
        raise ClusterError(
            "executor kind 'ray' needs Ray, which is not installed: pip install 'ragbench[ray]'"
        ) from None
    if ray.is_initialized() and _STATE["address"] is None:  # the user's own ray.init: use it
        address = str(ray.get_runtime_context().gcs_address)
    else:
        address = _resolve(cfg.address)
        if _STATE["address"] != address:
            _probe(address, cfg.connect_timeout_s)  # before leaving a connection that works
            if ray.is_initialized():
                ray.shutdown()
                _STATE.update(address=None, clusters={})
            debug = bool(os.environ.get("RAGBENCH_DEBUG"))
            try:
                ray.init(
                    address=address,
                    logging_level=logging.INFO if debug else logging.ERROR,
                    log_to_driver=debug,  # worker logs: noise in a CLI run, unless debugging
                )
            except Exception as exc:  # noqa: BLE001 - a version mismatch, a refused handshake
                raise ClusterError(
                    f"cannot connect to the Ray cluster at {address}: {exc}"
                ) from exc
            _STATE["address"] = address
    key = f"{address}/{cfg.workers}"
    cluster = _STATE["clusters"].get(key)
    if cluster is None or not cluster.live():
        cluster = _start_workers(address, cfg.workers)
        _STATE["clusters"] = {key: cluster}
    return cluster


def disconnect() -> None:
    """Leave the cluster ``connect`` joined (its workers stop); a later run connects anew."""
    if _STATE["address"] is not None:
        import ray

        ray.shutdown()
    _STATE.update(address=None, clusters={})


def _resolve(address: str) -> str:
    """``auto``: $RAY_ADDRESS, else the cluster this machine joined (Ray's own record)."""
    if address != "auto":
        return address
    env = os.environ.get("RAY_ADDRESS")
    if env and env != "auto":
        return env
    record = Path(os.environ.get("RAY_TMPDIR") or "/tmp") / "ray" / "ray_current_cluster"
    if record.is_file() and record.read_text().strip():
        return record.read_text().strip()
    raise ClusterError(
        "executor address 'auto': no Ray cluster was started on this machine and RAY_ADDRESS is "
        "not set; start one (`ray start --head`) or give the head's host:port"
    )


def _probe(address: str, timeout_s: float) -> None:
    """The head answers within ``timeout_s`` as a Ray head does, or one line saying it did not:
    a Ray Client address (``ray://``) by a TCP connection, a GCS address by a gRPC call of Ray's
    own (a proxy or another server may accept connections for any address)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    hint = "is the head running (`ray start --head`) and its port open from here?"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        raise ClusterError(
            f"cannot reach the Ray cluster at {address} within {timeout_s:g} s ({reason}): {hint}"
        ) from None
    if address.startswith("ray://"):
        return
    import grpc

    with grpc.insecure_channel(address) as channel:
        try:
            channel.unary_unary("/ray.rpc.NodeInfoGcsService/GetClusterId")(b"", timeout=timeout_s)
        except grpc.RpcError as exc:
            code, details = exc.code(), " ".join(str(exc.details() or "").split())[:200]
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                raise ClusterError(
                    f"cannot reach the Ray cluster at {address} within {timeout_s:g} s "
                    f"({details or code.name}): {hint}"
                ) from None
            if "http2 header with status" in details:  # an HTTP server or proxy, not gRPC
                raise ClusterError(
                    f"{address} answers, but not as the head of a Ray cluster ({details}): give "
                    "the address `ray start --head` printed (its GCS port, 6379 by default)"
                ) from None
            # another gRPC answer (a Ray of another version?): ray.init says what is wrong


def _start_workers(address: str, workers: int | None) -> Cluster:
    """One actor per worker slot, spread over the nodes alive (see the module docstring)."""
    import ray

    nodes = sorted(
        (n["NodeID"], int(n.get("Resources", {}).get("CPU", 0)))
        for n in ray.nodes()
        if n.get("Alive")
    )
    slots = [node for node, cpus in nodes for _ in range(cpus)] or [n for n, _ in nodes]
    if workers is not None:  # round robin over the nodes, as many as asked
        by_node = [node for node, _ in nodes]
        slots = [by_node[i % len(by_node)] for i in range(workers)]
    if not slots:
        raise ClusterError(f"the Ray cluster at {address} has no node alive")
    actors = [_worker(node) for node in slots]
    try:
        pings = ray.get([a.ping.remote() for a in actors], timeout=START_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - a worker that cannot import ragbench, a timeout
        for actor in actors:
            ray.kill(actor)
        raise ClusterError(
            f"the ragbench workers did not start on the Ray cluster at {address}: {_cause(exc)}"
        ) from exc
    return Cluster(address, actors, [p["node"] for p in pings], [True] * len(actors))


def _worker(node: str) -> Any:
    """A new worker (Ray actor) on ``node``. Its process restarts there when it dies, and Ray
    retries its calls; when the node dies, its calls fail and ``Calls`` replaces it."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote: Any = ray.remote(Worker)
    return remote.options(
        num_cpus=0,  # the slots are counted here; Ray's CPUs stay free for other work
        max_concurrency=MAX_CONCURRENCY,
        max_restarts=-1,
        max_task_retries=-1,
        # soft affinity placed actors on the driver's node at random (Ray 2.60, two raylets
        # on one host): a worker is pinned to its node, and replaced when that node dies
        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
    ).remote()


def needs_of(config: Any, trials: list[Any], judged: list[str], corpus_on_workers: bool) -> Needs:
    """What the run needs on every node: its local models (named by the driver's content
    identity), cross-encoder folders, API key variables set here, the dataset path (when workers
    read it) and this ragbench and Python."""
    from ragbench import models
    from ragbench.experiment.judging import judge_embedding
    from ragbench.metrics import uses_embedding

    llms, embeddings, folders, env = {}, {}, set(), set()
    for trial in trials:
        pipeline = trial.pipeline
        for llm in (pipeline.generation.llm, pipeline.judge):
            llms[models.llm_id(llm)] = llm
        embeddings[models.embedding_id(pipeline.embedding)] = pipeline.embedding
        if any(map(uses_embedding, judged)):  # answer relevancy's fixed embedding space
            judge_embed = judge_embedding(pipeline.judge)
            embeddings[models.embedding_id(judge_embed)] = judge_embed
        if pipeline.retrieval.rerank == "cross-encoder" and pipeline.retrieval.rerank_model:
            folders.add(str(pipeline.retrieval.rerank_model))
        for endpoint in (pipeline.generation.llm, pipeline.judge, pipeline.embedding):
            if endpoint.provider == "openai" and os.environ.get(endpoint.api_key_env):
                env.add(endpoint.api_key_env)
    return Needs(
        ragbench=_version("ragbench"),
        llms=llms,
        embeddings=embeddings,
        folders=sorted(folders),
        env=sorted(env),
        dataset_path=config.dataset.path if corpus_on_workers else None,
        python=".".join(platform.python_version_tuple()[:2]),
    )


class Calls:
    """Actor calls over a cluster's workers (see the module docstring). ``put`` may be called
    while ``results`` is being iterated."""

    def __init__(self, cluster: Cluster, limit: int) -> None:
        self.cluster = cluster
        self.limit = max(1, limit)
        self.queue: deque[tuple[Any, str, tuple[Any, ...], int]] = deque()
        self.inflight: dict[Any, tuple[Any, int, str, tuple[Any, ...], int]] = {}
        self.load = [0] * len(cluster.workers)

    def put(self, tag: Any, method: str, *args: Any) -> None:
        """Queue ``worker.method(*args)``; its result comes back from ``results`` with ``tag``."""
        self.queue.append((tag, method, args, 1))

    def start(self) -> None:
        """Send what the workers can take now (``results`` sends the rest as calls complete)."""
        self._fill()

    def results(self) -> Iterator[tuple[Any, Any]]:
        """``(tag, result)`` of every call put, as each completes."""
        import ray

        try:
            while self.queue or self.inflight:
                self._fill()
                ready, _ = ray.wait(list(self.inflight), num_returns=1)
                ref = ready[0]
                tag, worker, method, args, attempt = self.inflight.pop(ref)
                self.load[worker] -= 1
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # raised by ragbench on the worker
                    cause = getattr(exc, "cause", None)
                    raise (cause if isinstance(cause, Exception) else exc) from exc
                except ray.exceptions.RayError as exc:  # the worker is gone (for good)
                    self._lost(worker, exc)
                    if attempt >= ATTEMPTS:
                        raise ClusterError(
                            f"a call was lost {attempt} times with its Ray worker: {_cause(exc)}"
                        ) from exc
                    self.queue.appendleft((tag, method, args, attempt + 1))
                    continue
                yield tag, value
        finally:  # a stage that stops early (an error, Ctrl-C) leaves no call queued
            for ref in self.inflight:
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001, S110 - best effort: a call running finishes
                    pass

    def _fill(self) -> None:
        if not self.queue:
            return
        live = self.cluster.live()
        if not live:
            raise ClusterError("every ragbench worker of the Ray cluster is gone")
        while self.queue:
            worker = min(live, key=lambda i: (self.load[i], i))
            if self.load[worker] >= self.limit:
                return
            tag, method, args, attempt = self.queue.popleft()
            ref = getattr(self.cluster.workers[worker], method).remote(*args)
            self.inflight[ref] = (tag, worker, method, args, attempt)
            self.load[worker] += 1

    def _lost(self, worker: int, exc: Exception) -> None:
        import ray

        gone = (ray.exceptions.ActorDiedError, ray.exceptions.ActorUnschedulableError)
        if isinstance(exc, gone) and self.cluster.alive[worker]:
            self.cluster.replace(worker)


def _cause(exc: BaseException) -> str:
    """One line of what went wrong on the cluster (a remote traceback cut to its last line)."""
    text = str(getattr(exc, "cause", None) or exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
