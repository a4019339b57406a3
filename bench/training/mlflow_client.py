"""The peer's load: processes each logging metric batches into its own MLflow run with `log_batch`.

Runs under the MLflow environment's interpreter (MLflow is no dependency of the platform):

    /tmp/mlflowvenv/bin/python bench/training/mlflow_client.py http://127.0.0.1:5000 --batch 500
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time


def _experiment(url: str) -> str:
    """Made once, before the clients start: concurrent creations of one name conflict."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    found = client.get_experiment_by_name("bench")
    return found.experiment_id if found else client.create_experiment("bench")


def _client(url: str, experiment_id: str, batch: int, seconds: float, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    run = client.create_run(experiment_id)
    sent, step = 0, 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        now = int(time.time() * 1000)
        metrics = [Metric(f"m{i % 10}", float(i), now, step + i // 10) for i in range(batch)]
        client.log_batch(run.info.run_id, metrics=metrics)
        sent += batch
        step += batch // 10
    results.put((sent, time.monotonic() - started))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    experiment_id = _experiment(args.url)
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    workers = [
        multiprocessing.Process(
            target=_client, args=(args.url, experiment_id, args.batch, args.seconds, results)
        )
        for _ in range(args.processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=args.seconds + 120) for _ in workers]
    for worker in workers:
        worker.join()
    sent = sum(s for s, _ in outcomes)
    elapsed = max(e for _, e in outcomes)
    print(json.dumps({"metrics": sent, "seconds": elapsed, "per_second": sent / elapsed}))


if __name__ == "__main__":
    main()
