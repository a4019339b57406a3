"""Times `mlops up` to all healthy, then measures the idle stack's CPU and memory.

    .venv/bin/python bench/stack_idle.py [--settle 20] [--sample 30] [--data-dir DIR]

Targets (from the embedded-stack issue): all healthy in under 60 s; idle under 5% of one core and
1.5 GB RSS for the whole stack (supervisor and every child, summed).
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from mlops.stack.stackfile import StackInfo

logger = logging.getLogger("bench.stack_idle")

TARGET_START_SECONDS = 60.0
TARGET_CPU_PERCENT = 5.0
TARGET_RSS_BYTES = 1.5e9


def stack_processes(info: StackInfo) -> dict[str, list[psutil.Process]]:
    """Each component's process with its descendants, and the supervisor's."""
    roots = {name: c.pid for name, c in info.components.items() if c.pid}
    if info.supervisor_pid:
        roots["supervisor"] = info.supervisor_pid
    found: dict[str, list[psutil.Process]] = {}
    for name, pid in roots.items():
        try:
            root = psutil.Process(pid)
            found[name] = [root, *root.children(recursive=True)] if name != "supervisor" else [root]
        except psutil.NoSuchProcess:
            logger.warning("%s (pid %s) is gone", name, pid)
    return found


def measure(processes: dict[str, list[psutil.Process]], seconds: float) -> dict[str, tuple[float, int]]:
    """CPU% of one core over `seconds` and RSS at the end, per component."""
    before = {name: sum(sum(p.cpu_times()[:2]) for p in procs) for name, procs in processes.items()}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    result = {}
    for name, procs in processes.items():
        cpu = sum(sum(p.cpu_times()[:2]) for p in procs if p.is_running())
        rss = sum(p.memory_info().rss for p in procs if p.is_running())
        result[name] = (100.0 * (cpu - before[name]) / elapsed, rss)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds to wait after all healthy")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds to sample CPU over")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    console = Console()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="mlops-bench-")) / "stack"
    mlops = [sys.executable, "-m", "mlops.cli.main"]

    started = time.monotonic()
    up = subprocess.run(
        [*mlops, "up", "--detach", "--data-dir", str(data_dir)], capture_output=True, text=True
    )
    start_seconds = time.monotonic() - started
    try:
        if up.returncode != 0:
            console.print(up.stdout, up.stderr)
            return 1
        info = StackInfo.load(data_dir)
        assert info is not None
        console.print(f"all healthy in {start_seconds:.1f}s; settling for {args.settle:.0f}s")
        time.sleep(args.settle)
        figures = measure(stack_processes(info), args.sample)
    finally:
        subprocess.run([*mlops, "down", "--data-dir", str(data_dir)], capture_output=True, text=True)

    table = Table("component", "CPU % of one core", "RSS MB", box=None)
    for name, (cpu, rss) in sorted(figures.items(), key=lambda item: -item[1][1]):
        table.add_row(name, f"{cpu:.2f}", f"{rss / 1e6:.0f}")
    total_cpu = sum(cpu for cpu, _ in figures.values())
    total_rss = sum(rss for _, rss in figures.values())
    table.add_row("[b]total[/b]", f"[b]{total_cpu:.2f}[/b]", f"[b]{total_rss / 1e6:.0f}[/b]")
    console.print(table)

    checks = [
        ("start to all healthy", f"{start_seconds:.1f} s", f"< {TARGET_START_SECONDS:.0f} s",
         start_seconds < TARGET_START_SECONDS),
        ("idle CPU", f"{total_cpu:.2f} %", f"< {TARGET_CPU_PERCENT:.0f} % of one core",
         total_cpu < TARGET_CPU_PERCENT),
        ("idle RSS", f"{total_rss / 1e9:.2f} GB", f"< {TARGET_RSS_BYTES / 1e9:.1f} GB",
         total_rss < TARGET_RSS_BYTES),
    ]  # fmt: skip
    verdicts = Table("measure", "measured", "target", "met", box=None)
    for label, measured, target, met in checks:
        verdicts.add_row(label, measured, target, "[green]yes[/green]" if met else "[red]NO[/red]")
    console.print(verdicts)
    return 0 if all(met for *_, met in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
