"""Serving bench: the same ONNX models and the same client against onnxruntime in-process, MLServer,
our worker with and without dynamic batching, and a bare grpcio echo (the transport floor).

    .venv/bin/python bench/serving/run.py [--mlserver /path/to/venv/bin/mlserver] [--seconds 4]
        [--json out.json]

Models: the catalog's anomaly detector and image classifier trained on their demo data (the image
classifier's is 8x8 grey digits), and the same image classifier trained on generated 32x32 RGB images
(shapes.py), where the model's own time is of the order of the transport's. Trained models are cached
under --cache. Client: tritonclient's gRPC aio client (bench/serving/client.py) in several processes,
concurrency 1, 8 and 32, batch-1 requests. MLServer runs in its own virtual environment with
`parallel_workers: 0` and a minimal onnxruntime runtime (mlserver_runtime.py); the echo answers a
valid response of the real size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CONCURRENCY = (1, 8, 32)
# Client processes per concurrency: one Python client tops out near the transport floor on its own.
PROCESSES = {1: 1, 8: 2, 32: 4}
BATCH_SIZES = (1, 8, 32)


def _shapes_32() -> list[Any]:
    if str(HERE) not in sys.path:  # run with -m rather than as a script
        sys.path.insert(0, str(HERE))
    from shapes import shapes_dataset

    return shapes_dataset(count=1200, size=32)


@dataclass(frozen=True)
class Recipe:
    """How a bench model is trained: a catalog algorithm, parameters over the preset, a dataset."""

    algorithm: str
    params: dict[str, Any] = field(default_factory=dict)
    # None: the algorithm's own demo dataset; the name keys the cache.
    dataset: tuple[str, Callable[[], list[Any]]] | None = None


MODELS = {
    "anomaly": Recipe("anomaly-detection-autoencoder"),
    # The catalog CNN on the 8x8 digits demo: ~0.03 ms per call, far below the transport's cost.
    "image": Recipe("image-classification-cnn"),
    # The same CNN (width 32) on generated 32x32 RGB shapes: ~0.5 ms per batch-1 call.
    "image-rgb32": Recipe(
        "image-classification-cnn", {"color_mode": "rgb", "epochs": 3}, ("shapes-32-1200", _shapes_32)
    ),
}
CACHE = Path(tempfile.gettempdir()) / "mlops-bench-serving-models"

logger = logging.getLogger("bench.serving")


@dataclass(frozen=True)
class Model:
    name: str
    bundle: Path
    onnx: Path
    input_name: str
    input_shape: list[int]
    output_name: str
    output_shape: list[int]


@dataclass
class Cell:
    model: str
    target: str
    concurrency: int
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train(names: list[str], preset: str, cache: Path) -> list[Model]:
    """Train each named model once per recipe and preset; later runs load it from `cache`."""
    import torch

    from mlops.algorithms import TrainingContext, validate_parameters
    from mlops.algorithms.builtin import builtin_algorithms
    from mlops.algorithms.bundle import ModelBundle

    torch.set_num_threads(2)
    algorithms = {a.id: a for a in builtin_algorithms()}
    models = []
    for name in names:
        recipe = MODELS[name]
        algorithm = algorithms[recipe.algorithm]
        params = validate_parameters(algorithm, recipe.params, preset=preset)
        dataset_name = recipe.dataset[0] if recipe.dataset else "demo"
        key = json.dumps([algorithm.id, algorithm.version, params, dataset_name], sort_keys=True)
        folder = cache / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        if (folder / "model.onnx").exists():
            bundle = ModelBundle.load(folder)
        else:
            logger.info("training %s (%s on %s)", name, algorithm.id, dataset_name)
            samples = recipe.dataset[1]() if recipe.dataset else algorithm.demo_dataset()
            result = algorithm.train(samples, params, TrainingContext(seed=0, device="cpu"))
            logger.info("%s trained: %s", name, result.metrics)
            bundle = result.bundle
            # Saved beside, then renamed: an interrupted run leaves no half-written model behind.
            partial = bundle.save(cache / f".{folder.name}-{os.getpid()}")
            partial.rename(folder)
        (tensor_in,), (tensor_out,) = bundle.signature.inputs, bundle.signature.outputs
        models.append(
            Model(
                name=name,
                bundle=folder,
                onnx=folder / "model.onnx",
                input_name=tensor_in.name,
                input_shape=[1 if d == -1 else d for d in tensor_in.shape],
                output_name=tensor_out.name,
                output_shape=[1 if d == -1 else d for d in tensor_out.shape],
            )
        )
    return models


def _session(model: Model) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model.onnx), options, providers=["CPUExecutionProvider"])


def batch_ceiling(model: Model, calls: int = 300) -> dict[int, float]:
    """Milliseconds per row of one session.run on one thread, by batch size (best of `calls` rows'
    worth): what gathering requests can save on the model's side at most."""
    session = _session(model)
    per_row = {}
    for size in BATCH_SIZES:
        shape = [size, *model.input_shape[1:]]
        data = {model.input_name: np.random.default_rng(0).random(shape, dtype=np.float32)}
        for _ in range(3):
            session.run(None, data)
        timings = []
        for _ in range(max(10, calls // size)):
            began = time.perf_counter()
            session.run(None, data)
            timings.append(time.perf_counter() - began)
        per_row[size] = min(timings) / size * 1000
    return per_row


def in_process(model: Model, concurrency: int, seconds: float) -> Cell:
    """The limit: the same session.run calls with no transport, from `concurrency` threads."""
    session = _session(model)
    data = {model.input_name: np.random.default_rng(0).random(model.input_shape, dtype=np.float32)}
    for _ in range(100):
        session.run(None, data)
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    stop_at = time.perf_counter() + seconds

    def loop(index: int) -> None:
        own = latencies[index]
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                return
            session.run(None, data)
            own.append((time.perf_counter() - began) * 1000)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = [v for part in latencies for v in part]
    return _cell(model.name, "onnxruntime in-process", concurrency, merged, seconds, 0)


def _cell(
    model: str, target: str, concurrency: int, latencies: list[float], seconds: float, errors: int
) -> Cell:
    if not latencies:
        return Cell(model, target, concurrency, 0.0, float("nan"), float("nan"), errors)
    ordered = np.sort(np.asarray(latencies))
    return Cell(
        model,
        target,
        concurrency,
        len(ordered) / seconds,
        float(np.percentile(ordered, 50)),
        float(np.percentile(ordered, 99)),
        errors,
    )


def _client(
    address: str, model: Model, served_as: str, concurrency: int, warmup: float, seconds: float
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(HERE / "client.py"),
            address,
            served_as,
            model.input_name,
            ",".join(str(d) for d in model.input_shape),
            str(concurrency),
            str(warmup),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def measure(
    address: str, model: Model, target: str, concurrency: int, seconds: float, served_as: str = ""
) -> Cell:
    processes = PROCESSES[concurrency]
    clients = [
        _client(address, model, served_as or model.name, concurrency // processes, 1.0, seconds)
        for _ in range(processes)
    ]
    latencies: list[float] = []
    errors = 0
    for client in clients:
        stdout, stderr = client.communicate(timeout=seconds + 60)
        if client.returncode != 0:
            raise RuntimeError(f"client failed: {stderr.decode()[-2000:]}")
        result = json.loads(stdout)
        latencies.extend(result["latencies_ms"])
        errors += result["errors"]
    return _cell(model.name, target, concurrency, latencies, seconds, errors)


def wait_until_serving(address: str, model: Model, served_as: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client = _client(address, model, served_as, 1, 0.0, 0.3)
        stdout, _ = client.communicate(timeout=60)
        if client.returncode == 0 and json.loads(stdout)["count"] > 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{address} never answered {served_as}")


def _wait_idle(seconds: float = 2.0) -> None:
    # Servers (MLServer above all) keep a core busy for a moment after they answer; let it settle.
    time.sleep(seconds)


class Server:
    def __init__(
        self, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_worker(models: list[Model], batching: bool) -> tuple[Server, str]:
    port = free_port()
    env = {
        "MLOPS_INFERENCE_GRPC_PORT": str(port),
        "MLOPS_INFERENCE_REST_PORT": str(free_port()),
        "MLOPS_INFERENCE_METRICS_PORT": str(free_port()),
        "MLOPS_INFERENCE_AUTH": "false",
        "MLOPS_INFERENCE_PUBLIC_MODELS": "true",
        "MLOPS_INFERENCE_DEVICE": "cpu",
        "MLOPS_INFERENCE_MODEL_THREADS": "1",
        "MLOPS_INFERENCE_MODELS": ",".join(f"{m.name}={m.bundle}" for m in models),
        "MLOPS_INFERENCE_MAX_BATCH_SIZE": "32" if batching else "0",
        "MLOPS_INFERENCE_MAX_QUEUE_DELAY_US": "0",
        "MLOPS_LOG_LEVEL": "WARNING",
    }
    server = Server([sys.executable, "-m", "services.serving.worker"], env, cwd=ROOT)
    return server, f"127.0.0.1:{port}"


def start_mlserver(executable: str, models: list[Model], workdir: Path) -> tuple[Server, str]:
    port = free_port()
    root = workdir / "mlserver"
    root.mkdir(exist_ok=True)
    settings = {
        "parallel_workers": 0,
        "grpc_port": port,
        "http_port": free_port(),
        "metrics_port": free_port(),
        "host": "127.0.0.1",
        "debug": False,
    }
    (root / "settings.json").write_text(json.dumps(settings))
    for model in models:
        folder = root / model.name
        folder.mkdir(exist_ok=True)
        shutil.copy(model.onnx, folder / "model.onnx")
        shutil.copy(HERE / "mlserver_runtime.py", folder / "mlserver_runtime.py")
        (folder / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": model.name,
                    "implementation": "mlserver_runtime.OnnxRuntimeModel",
                    "parameters": {"uri": str(folder / "model.onnx")},
                }
            )
        )
    server = Server([executable, "start", str(root)], cwd=root)
    return server, f"127.0.0.1:{port}"


def start_echo(model: Model) -> tuple[Server, str]:
    port = free_port()
    shape = ",".join(str(d) for d in model.output_shape)
    server = Server([sys.executable, str(HERE / "echo.py"), str(port), model.output_name, shape])
    return server, f"127.0.0.1:{port}"


def run_target(target: str, start: Any, models: list[Model], seconds: float) -> list[Cell]:
    return run_targets({target: start}, models, seconds)


def run_targets(starts: dict[str, Any], models: list[Model], seconds: float) -> list[Cell]:
    """Start every target's server, then measure them cell by cell in turn: on a machine whose load
    drifts, targets compared side by side see the same load."""
    servers: list[Server] = []
    addresses = {}
    cells = []
    try:
        for target, start in starts.items():
            server, addresses[target] = start()
            servers.append(server)
        for address in addresses.values():
            for model in models:
                wait_until_serving(address, model, model.name)
        _wait_idle()
        for model in models:
            for concurrency in CONCURRENCY:
                for target, address in addresses.items():
                    cell = measure(address, model, target, concurrency, seconds)
                    logger.info("%s", cell)
                    cells.append(cell)
    finally:
        for server in servers:
            server.stop()
    return cells


def table(cells: list[Cell]) -> str:
    lines = [
        "| model | target | concurrency | requests/s | p50 (ms) | p99 (ms) | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in sorted(cells, key=lambda c: (c.model, c.concurrency)):
        lines.append(
            f"| {c.model} | {c.target} | {c.concurrency} | {c.throughput:,.0f} | {c.p50_ms:.3f} | "
            f"{c.p99_ms:.3f} | {c.errors} |"
        )
    return "\n".join(lines)


def goals(cells: list[Cell]) -> str:
    def get(model: str, target: str, concurrency: int) -> Cell | None:
        for c in cells:
            if (c.model, c.target, c.concurrency) == (model, target, concurrency):
                return c
        return None

    lines = []
    for model in MODELS:
        for concurrency in (8, 32):
            peer = get(model, "mlserver", concurrency)
            for ours in ("worker", "worker + batching"):
                mine = get(model, ours, concurrency)
                if peer and mine and peer.throughput:
                    ratio = mine.throughput / peer.throughput
                    verdict = "met" if ratio >= 2 else "MISSED"
                    lines.append(
                        f"{model} c={concurrency}: {ours} / MLServer throughput = {ratio:.2f}x "
                        f"(goal >= 2x: {verdict})"
                    )
        echo, local, mine = (
            get(model, "grpc echo", 1),
            get(model, "onnxruntime in-process", 1),
            get(model, "worker", 1),
        )
        if echo and local and mine:
            floor = echo.p50_ms + local.p50_ms
            ratio = mine.p50_ms / floor
            verdict = "met" if ratio <= 1.3 else "MISSED"
            lines.append(
                f"{model} c=1: worker p50 {mine.p50_ms:.3f} ms vs floor {floor:.3f} ms (echo + in-process) = "
                f"{ratio:.2f}x (goal <= 1.3x: {verdict})"
            )
    for model in ("image", "image-rgb32"):
        for concurrency in CONCURRENCY:
            plain, batched = get(model, "worker", concurrency), get(model, "worker + batching", concurrency)
            if plain and batched and plain.throughput:
                ratio = batched.throughput / plain.throughput
                goal = f" (goal >= 1.5x: {'met' if ratio >= 1.5 else 'MISSED'})" if concurrency == 32 else ""
                lines.append(
                    f"{model} c={concurrency}: batching / no batching throughput = {ratio:.2f}x{goal}"
                )
    return "\n".join(lines)


def ceiling_table(ceilings: dict[str, dict[int, float]]) -> str:
    lines = [
        "| model | " + " | ".join(f"ms per row, batch {b}" for b in BATCH_SIZES) + " | batch 1 / best |",
        "| --- |" + " ---: |" * (len(BATCH_SIZES) + 1),
    ]
    for name, per_row in ceilings.items():
        cells = " | ".join(f"{per_row[b]:.4f}" for b in BATCH_SIZES)
        lines.append(f"| {name} | {cells} | {per_row[1] / min(per_row.values()):.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mlserver", default=shutil.which("mlserver") or "", help="MLServer's executable")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per cell")
    parser.add_argument(
        "--only", nargs="*", default=None, help="targets: inprocess echo mlserver worker batching"
    )
    parser.add_argument("--preset", default="default", help="training preset of every model")
    parser.add_argument(
        "--models", nargs="*", default=None, help=f"models: {' '.join(MODELS)} (default: all)"
    )
    parser.add_argument("--cache", type=Path, default=CACHE, help="trained models are kept here between runs")
    parser.add_argument("--json", type=Path, help="write the cells here too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    only = set(args.only or ["inprocess", "echo", "mlserver", "worker", "batching"])
    unknown = set(args.models or []) - set(MODELS)
    if unknown:
        parser.error(f"unknown model {sorted(unknown)[0]}; known: {', '.join(MODELS)}")

    ceilings: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        workdir = Path(tmp)
        models = train(args.models or list(MODELS), args.preset, args.cache)
        cells: list[Cell] = []
        if "inprocess" in only:
            ceilings = {m.name: batch_ceiling(m) for m in models}
            cells += [in_process(m, c, args.seconds) for m in models for c in CONCURRENCY]
        if "echo" in only:
            for model in models:
                cells += run_target("grpc echo", lambda m=model: start_echo(m), [model], args.seconds)
        if "mlserver" in only:
            if args.mlserver:
                cells += run_target(
                    "mlserver", lambda: start_mlserver(args.mlserver, models, workdir), models, args.seconds
                )
            else:
                logger.warning("no MLServer executable (--mlserver): the peer is left out")
        # The worker with and without batching run side by side, cell by cell (see run_targets).
        workers: dict[str, Any] = {}
        if "worker" in only:
            workers["worker"] = lambda: start_worker(models, batching=False)
        if "batching" in only:
            workers["worker + batching"] = lambda: start_worker(models, batching=True)
        cells += run_targets(workers, models, args.seconds)

    report = f"{table(cells)}\n\n{goals(cells)}"
    if ceilings:
        report = f"{ceiling_table(ceilings)}\n\n{report}"
    sys.stdout.write(report + "\n")
    if args.json:
        args.json.write_text(json.dumps([c.__dict__ for c in cells], indent=2))


if __name__ == "__main__":
    main()
