"""Ray scaling: an endpoint-bound sweep locally and on a Ray cluster with 1, 2 and 4 workers.

Starts the loopback chat-completions server of the tests (``tests/endpoint_server.py``, in its own
process) with a fixed latency per reply and, unless ``--address`` names a running cluster, a Ray
cluster of two nodes on loopback (as the tests' fixture does; stopped with ``ray stop --force``
at the end, which stops every Ray process of the user on this machine). It then runs one
experiment (2 trials x ``--questions`` questions; per question one answer and three judge calls)
locally at ``concurrency: 8`` and on Ray with 1, 2 and 4 workers at ``concurrency: 2`` per
worker (2, 4 and 8 calls in flight: 4 workers have the slots of the local run), each on a fresh
results file after a warm-up run that starts the workers. It prints, per run, the wall time,
the answer+judge stage, the endpoint calls made, the ideal (calls x latency / parallel slots) and
the stage's ratio to it (target <= 1.3x at 4 workers).

Then what Ray costs when it cannot pay off: a tiny sweep (tests/data/smoke.yaml, test doubles)
locally and on the cluster (starting the workers; then warm), and shipping a corpus through the
object store (``executor.data: ship``): pg-essays from ../shared/datasets when present, else the
demo corpus, in bytes and seconds until a worker on another node holds it.

    nice -n 19 .venv/bin/python benchmarks/ray_scaling.py [--latency 0.5] [--questions 24]

The endpoint only waits, so a ratio above 1 is ragbench's and Ray's overhead per call (ragas, the
OpenAI client, the object store, the driver's commits) against the latency: a busy CPU raises it.
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragbench.config.experiment import ExperimentConfig, load_config, parse_config
from ragbench.data.datasets import load_dataset
from ragbench.experiment import ray_executor
from ragbench.experiment.orchestrator import run
from ragbench.records import Progress

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
SHARED = ROOT.parent / "shared" / "datasets" / "pg-essays"
LOCAL_CONCURRENCY = 8
PER_WORKER = 2  # concurrency per Ray worker: 4 workers x 2 = the local run's 8 slots
WORKERS = (1, 2, 4)


def ideal_seconds(calls: int, latency: float, slots: int) -> float:
    """What the calls take when every parallel slot waits on the endpoint all the time."""
    return calls * latency / slots


def timed_run(config: ExperimentConfig, db: Path) -> dict[str, float]:
    """Wall seconds of a run, of its answer+judge stage, and its endpoint calls."""
    last: dict[str, float] = {}

    def note(progress: Progress) -> None:
        last[progress.stage] = progress.elapsed_s

    start = time.perf_counter()
    result = run(config, db=db, progress=False, on_progress=note)
    wall = time.perf_counter() - start
    if result.stats.judge_failures:
        raise SystemExit(f"{db.name}: {result.stats.judge_failures} judged scores failed")
    calls = result.stats.generated + result.stats.judge_calls
    return {"wall": wall, "stage": last["answer+judge"] - last["retrieval"], "calls": calls}


def on_ray(config: ExperimentConfig, address: str, workers: int) -> ExperimentConfig:
    block = config.executor.model_copy(
        update={"kind": "ray", "address": address, "workers": workers}
    )
    return config.model_copy(update={"executor": block})


def start_cluster() -> tuple[str, dict[str, str]]:
    """Two Ray nodes on loopback (1 CPU each); their address and the environment used."""
    ray_bin = str(Path(sys.executable).with_name("ray"))
    env = os.environ | {
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = str(free.getsockname()[1])
    head = [ray_bin, "start", "--head", "--port", port, "--include-dashboard", "false"]
    worker = [ray_bin, "start", "--address", f"127.0.0.1:{port}"]
    for command in (head + common, worker + common):
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
    return f"127.0.0.1:{port}", env


def shipping(address: str) -> tuple[str, int, float]:
    """The corpus shipped (its name), its pickled bytes, and the seconds from ``ray.put`` until
    a task on a node other than the driver's holds it."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from ragbench.config.components import DatasetConfig

    cfg = DatasetConfig(loader="pg-essays", path=str(SHARED)) if SHARED.is_dir() else None
    dataset = load_dataset(cfg or DatasetConfig(loader="demo"))
    here = ray.get_runtime_context().get_node_id()
    other = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["NodeID"] != here]
    node = other[0] if other else here

    @ray.remote(num_cpus=0)
    def count(docs: list[Any]) -> int:
        return len(docs)

    size = len(pickle.dumps(dataset.corpus, protocol=5))
    start = time.perf_counter()
    ref = ray.put(dataset.corpus)
    strategy = NodeAffinitySchedulingStrategy(node, soft=False)
    held = ray.get(count.options(scheduling_strategy=strategy).remote(ref))
    seconds = time.perf_counter() - start
    assert held == len(dataset.corpus)
    return f"{dataset.name}, {len(dataset.corpus)} documents", size, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per endpoint reply")
    parser.add_argument("--questions", type=int, default=24, help="at most 24")
    parser.add_argument("--address", help="a running Ray cluster (default: start one here)")
    args = parser.parse_args()
    sys.path.insert(0, str(TESTS))
    from endpoint_server import ITEMS, loopback_experiment, write_dataset

    work = Path(tempfile.mkdtemp(prefix="ragbench-ray-scaling-"))
    data = write_dataset(work / "data", ITEMS[: args.questions])
    server = subprocess.Popen(
        [sys.executable, str(TESTS / "endpoint_server.py"), "--latency", str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    started: dict[str, str] | None = None
    rows: list[tuple[str, int, dict[str, float]]] = []
    try:
        url = (server.stdout.readline() if server.stdout else "").strip()
        if not url:
            raise SystemExit("the loopback server did not start")
        address = args.address
        if address is None:
            address, started = start_cluster()

        def config(concurrency: int, limit: int | None = None) -> ExperimentConfig:
            return parse_config(loopback_experiment(data, url, concurrency, limit=limit))

        timed_run(config(LOCAL_CONCURRENCY, 2), work / "warm-local.duckdb")
        local = timed_run(config(LOCAL_CONCURRENCY), work / "local.duckdb")
        rows.append((f"local, concurrency {LOCAL_CONCURRENCY}", LOCAL_CONCURRENCY, local))
        for workers in WORKERS:
            warm = on_ray(config(PER_WORKER, 2), address, workers)
            timed_run(warm, work / f"warm-ray{workers}.duckdb")  # starts the workers
            timed = timed_run(
                on_ray(config(PER_WORKER), address, workers), work / f"ray{workers}.duckdb"
            )
            rows.append((f"Ray, {workers} worker(s) x {PER_WORKER}", workers * PER_WORKER, timed))

        smoke = load_config(TESTS / "data" / "smoke.yaml")
        tiny_local = timed_run(smoke, work / "tiny-local.duckdb")
        ray_executor.disconnect()  # the next run connects and starts its workers anew
        tiny_cold = timed_run(on_ray(smoke, address, 2), work / "tiny-cold.duckdb")
        tiny_warm = timed_run(on_ray(smoke, address, 2), work / "tiny-warm.duckdb")
        corpus, size, seconds = shipping(address)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if started is not None:
            import ray

            ray.shutdown()
            ray_bin = str(Path(sys.executable).with_name("ray"))
            subprocess.run([ray_bin, "stop", "--force"], env=started, capture_output=True)

    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {load}"
    )
    where = args.address or "2 nodes on loopback, 1 CPU each"
    print(
        f"endpoint: loopback server, {args.latency:.2f} s per reply; Ray cluster: {where}; "
        f"2 trials x {args.questions} questions, an answer and 3 judge calls each"
    )
    print(
        f"{'':28s} {'run s':>7s} {'answer+judge s':>15s} {'calls':>6s} {'ideal s':>8s} {'ratio':>6s}"
    )
    for name, slots, got in rows:
        ideal = ideal_seconds(int(got["calls"]), args.latency, slots)
        print(
            f"{name:28s} {got['wall']:7.1f} {got['stage']:15.1f} {int(got['calls']):6d} "
            f"{ideal:8.1f} {got['stage'] / ideal:5.2f}x"
        )
    print("ideal: calls x latency / calls in flight; target <= 1.3x at 4 workers")
    print(
        f"tiny sweep (smoke, test doubles): local {tiny_local['wall']:.1f} s; on Ray "
        f"{tiny_cold['wall']:.1f} s starting 2 workers, {tiny_warm['wall']:.1f} s with them "
        f"running ({tiny_warm['wall'] - tiny_local['wall']:+.1f} s against local)"
    )
    print(f"shipping ({corpus}): {size:,} bytes in {seconds:.2f} s to a worker on another node")


if __name__ == "__main__":
    main()
