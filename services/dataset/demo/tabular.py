"""Demo data for anomaly detection (sensor readings) and forecasting (hourly electricity load)."""

from __future__ import annotations

import csv
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..domain import Scenario
from ..ingest import UploadFormat, UploadSpec
from .spec import DEFAULT_RATIOS, DemoDataset, DemoFile

_START = datetime(2026, 1, 1, tzinfo=UTC)


def anomaly_detection(directory: Path, seed: int, rows: int = 1000) -> DemoDataset:
    """Pump sensor readings, about 4% of them anomalous (overheating, bearing wear, pressure drops)."""
    rng = random.Random(seed)
    path = directory / "pump-sensors.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["timestamp", "temperature", "vibration", "pressure", "current", "label"])
        for index in range(rows):
            load = rng.uniform(0.4, 1.0)
            temperature = 55 + 20 * load + rng.gauss(0, 1.5)
            vibration = 0.8 + 0.6 * load + rng.gauss(0, 0.08)
            pressure = 4.2 + 1.1 * load + rng.gauss(0, 0.1)
            current = 9 + 6 * load + rng.gauss(0, 0.3)
            label = "normal"
            if rng.random() < 0.04:
                label = "anomaly"
                fault = rng.choice(("overheating", "bearing", "leak"))
                if fault == "overheating":
                    temperature += rng.uniform(15, 30)
                elif fault == "bearing":
                    vibration *= rng.uniform(2.5, 4.0)
                else:
                    pressure -= rng.uniform(1.5, 2.5)
            stamp = _START + timedelta(minutes=10 * index)
            writer.writerow(
                [
                    stamp.isoformat(),
                    f"{temperature:.3f}",
                    f"{vibration:.4f}",
                    f"{pressure:.4f}",
                    f"{current:.3f}",
                    label,
                ]
            )
    return DemoDataset(
        scenario=Scenario.ANOMALY_DETECTION,
        name="demo-pump-sensors",
        description="Synthetic pump telemetry every 10 minutes; about 4% of readings are faults.",
        tags=("demo", "sensors"),
        files=(
            DemoFile(path, UploadSpec(file_name=path.name, format=UploadFormat.CSV, media_type="text/csv")),
        ),
        ratios=DEFAULT_RATIOS,
        seed=seed,
    )


def time_series_forecasting(directory: Path, seed: int, hours: int = 24 * 90) -> DemoDataset:
    """Hourly electricity load with daily and weekly cycles, a trend, and temperature as a driver."""
    rng = random.Random(seed)
    path = directory / "grid-load.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["timestamp", "temperature", "target"])
        for hour in range(hours):
            stamp = _START + timedelta(hours=hour)
            daily = math.sin(2 * math.pi * (stamp.hour - 6) / 24)
            weekend = 0.85 if stamp.weekday() >= 5 else 1.0
            temperature = 8 + 6 * math.sin(2 * math.pi * (stamp.hour - 9) / 24) + rng.gauss(0, 1)
            load = (500 + 0.05 * hour + 120 * daily + 4 * abs(temperature - 18)) * weekend + rng.gauss(0, 12)
            writer.writerow([stamp.isoformat(), f"{temperature:.2f}", f"{load:.2f}"])
    return DemoDataset(
        scenario=Scenario.TIME_SERIES_FORECASTING,
        name="demo-grid-load",
        description="Synthetic hourly electricity load over 90 days with daily and weekly seasonality.",
        tags=("demo", "energy"),
        files=(
            DemoFile(path, UploadSpec(file_name=path.name, format=UploadFormat.CSV, media_type="text/csv")),
        ),
        ratios=DEFAULT_RATIOS,
        seed=seed,
    )
