"""Time-series forecasting: N-Linear over a lookback window, with an interval from validation residuals."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms import schema
from mlops.algorithms.base import (
    Algorithm,
    DatasetFormat,
    ModelCard,
    Progress,
    QualityBar,
    Sample,
    Scenario,
    TrainingContext,
    TrainingResult,
)
from mlops.algorithms.bundle import ModelBundle
from mlops.algorithms.forecasting import processing
from mlops.algorithms.forecasting.demo import electricity_demand
from mlops.algorithms.predictor import OnnxBackend, TorchBackend
from mlops.algorithms.runtime import export_onnx, resolve_device, seed_everything, torch_generator
from mlops.algorithms.series import MEDIA_TYPE, read_series_csv
from mlops.kernel.errors import InvalidArgument


class Forecasting(Algorithm):
    id = "forecasting-nlinear"
    version = "1.0.0"
    scenario = Scenario.TIME_SERIES_FORECASTING
    title = "Time-series forecasting (N-Linear)"
    description = "Forecasts the next values of a series from its recent past, with a prediction interval."
    dataset_format = DatasetFormat(
        media_types=(MEDIA_TYPE,),
        annotation="none: the values to forecast are the series' target column",
        annotation_schema={"type": "null"},
        notes="One series (a site, a product) per sample: a series CSV as the dataset service stores an "
        "uploaded series file (upload format file): 'timestamp', oldest first at a regular interval, and "
        "'target', the value forecast (other numeric columns are kept but not used). Testing series are "
        "forecast at rolling origins over their last quarter, so no future value reaches the model.",
        requires_purposes=(),
    )
    # mase here: MAE of the forecast / MAE of the seasonal naive forecast, both on held-out horizons.
    quality_bars = (QualityBar("mase", maximum=0.9),)

    def parameter_schema(self) -> dict[str, Any]:
        return schema.form(
            "Time-series forecasting",
            {
                "lookback": schema.integer(
                    "Lookback", 168, 8, 1024, "Past values the model reads.", group="data"
                ),
                "horizon": schema.integer(
                    "Horizon", 24, 1, 336, "Future values forecast at once.", group="data"
                ),
                "season_length": schema.integer(
                    "Season length",
                    24,
                    1,
                    1024,
                    "Period of the seasonal naive baseline (24 for hourly data).",
                    group="data",
                    widget="number",
                ),
                "epochs": schema.integer(
                    "Epochs", 30, 1, 300, "Passes over the training windows.", group="training"
                ),
                "batch_size": schema.choice(
                    "Batch size", 64, [16, 32, 64, 128, 256], "Windows per step.", group="training"
                ),
                "learning_rate": schema.number(
                    "Learning rate",
                    0.001,
                    0.00001,
                    0.1,
                    "Adam learning rate.",
                    group="training",
                    widget="log-slider",
                ),
                "interval": schema.choice(
                    "Interval",
                    0.9,
                    [0.8, 0.9, 0.95],
                    "Coverage of the prediction interval.",
                    group="output",
                ),
            },
        )

    def presets(self) -> dict[str, dict[str, Any]]:
        return {"quick": {"epochs": 2, "lookback": 48}, "default": {}}

    def example_input(self) -> Any:
        return self.sample_input(electricity_demand(sites=1, weeks=2)[0])[-200:]

    def sample_input(self, sample: Sample) -> Any:
        table = read_series_csv(sample.content, where=f"sample {sample.key}")
        if table.target is None:
            raise InvalidArgument(f"sample {sample.key}: the series has no 'target' column", field="dataset")
        return list(table.target)

    def demo_dataset(self, seed: int = 0) -> list[Sample]:
        return electricity_demand(seed)

    def predictor(self, bundle: ModelBundle, *, device: str = "auto") -> processing.ForecastingPredictor:
        backend = OnnxBackend(bundle.onnx_model, bundle.signature, device=device)
        return processing.ForecastingPredictor(bundle.signature, bundle.preprocessing, backend)

    def train(
        self, samples: Sequence[Sample], params: dict[str, Any], context: TrainingContext
    ) -> TrainingResult:
        import torch

        from mlops.algorithms.forecasting.model import NLinear

        seed_everything(context.seed)
        device = resolve_device(context.device)
        splits = self.read_dataset(samples)
        if not splits.training or not splits.testing:
            raise InvalidArgument("needs series labelled training and testing", field="dataset")
        lookback, horizon, season = params["lookback"], params["horizon"], params["season_length"]
        train_series = [np.asarray(self.sample_input(s), dtype=np.float64) for s in splits.training]
        val_series = [
            np.asarray(self.sample_input(s), dtype=np.float64) for s in splits.validation
        ] or train_series
        stacked = np.concatenate(train_series)
        state: dict[str, Any] = {
            "lookback": lookback,
            "horizon": horizon,
            "mean": float(stacked.mean()),
            "scale": float(max(stacked.std(), 1e-6)),
            "interval": params["interval"],
            "interval_width": [0.0] * horizon,
        }
        train_x, train_y = _windows(train_series, lookback, horizon, state, stride=1)
        val_x, val_y = _windows(val_series, lookback, horizon, state, stride=horizon)
        if len(train_x) == 0:
            raise InvalidArgument(
                f"series are shorter than lookback + horizon ({lookback + horizon})", field="dataset"
            )
        model = NLinear(lookback, horizon).to(device)
        started = time.monotonic()
        history, stopped = self._fit(model, train_x, train_y, val_x, val_y, params, context, device)
        seconds = time.monotonic() - started
        signature = processing.signature(lookback, horizon)
        evaluator = processing.ForecastingPredictor(signature, state, TorchBackend(model, signature, device))
        # The interval: per-step quantiles of absolute validation errors, in the data's units.
        val_inputs, val_truth = _origins(val_series, lookback, horizon, stride=horizon)
        val_forecast = np.asarray([r["forecast"] for r in evaluator.predict(val_inputs)])
        coverage = params["interval"]
        state["interval_width"] = np.quantile(np.abs(val_truth - val_forecast), coverage, axis=0).tolist()
        test_series = [np.asarray(self.sample_input(s), dtype=np.float64) for s in splits.testing]
        inputs, truth, keys = [], [], []
        for sample, series in zip(splits.testing, test_series, strict=True):
            start = max(lookback, len(series) * 3 // 4)
            sample_inputs, sample_truth = _origins([series], lookback, horizon, stride=horizon, start=start)
            inputs += sample_inputs
            truth.append(sample_truth)
            keys += [(sample.key, len(i)) for i in sample_inputs]
        truth_array = np.concatenate(truth)
        predictions = evaluator.predict(inputs)
        forecast = np.asarray([p["forecast"] for p in predictions])
        naive = np.asarray([_seasonal_naive(np.asarray(i), horizon, season) for i in inputs])
        lower = np.asarray([p["lower"] for p in predictions])
        upper = np.asarray([p["upper"] for p in predictions])
        mae, naive_mae = (
            float(np.abs(forecast - truth_array).mean()),
            float(np.abs(naive - truth_array).mean()),
        )
        metrics = {
            "mase": mae / max(naive_mae, 1e-12),
            "mae": mae,
            "seasonal_naive_mae": naive_mae,
            "smape": float(
                np.mean(2 * np.abs(forecast - truth_array) / (np.abs(forecast) + np.abs(truth_array) + 1e-9))
            ),
            "interval_coverage": float(((truth_array >= lower) & (truth_array <= upper)).mean()),
        }
        onnx_model = export_onnx(
            model,
            (torch.from_numpy(train_x[:2]),),
            [processing.INPUT],
            [processing.OUTPUT],
            {processing.INPUT: {0: "batch"}, processing.OUTPUT: {0: "batch"}},
        )
        card = ModelCard(
            title=self.title,
            intended_use=f"Forecast the next {horizon} values of series like the training ones from the last "
            f"{lookback} values, with a {params['interval']} interval.",
            data=f"{len(splits.training)} training, {len(splits.validation)} validation and "
            f"{len(splits.testing)} testing series.",
            metrics=metrics,
            limits="A linear model of the recent past: structural breaks, holidays and outside drivers "
            "it has not seen are not anticipated; intervals assume errors like the validation period's.",
            training=f"{len(history)} epochs, seed {context.seed}.",
        )
        bundle = ModelBundle(
            self.id, self.version, onnx_model, signature, state, metrics, dict(params), card.to_markdown()
        )
        evaluation = {
            "history": [{"epoch": p.epoch, **p.metrics} for p in history],
            "training_seconds": seconds,
            "predictions": [
                {"key": key, "origin": origin, "input": i[-lookback:], **p, "truth": t.tolist()}
                for (key, origin), i, p, t in zip(keys, inputs, predictions, truth_array, strict=True)
            ],
        }
        return TrainingResult(bundle, metrics, evaluation, card, stopped=stopped, history=history)

    @staticmethod
    def _fit(
        model: Any,
        train_x: np.ndarray,
        train_y: np.ndarray,
        val_x: np.ndarray,
        val_y: np.ndarray,
        params: dict[str, Any],
        context: TrainingContext,
        device: Any,
    ) -> tuple[list[Progress], bool]:
        import torch

        generator = torch_generator(context.seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=params["learning_rate"])
        x, y = torch.from_numpy(train_x), torch.from_numpy(train_y)
        vx, vy = torch.from_numpy(val_x).to(device), torch.from_numpy(val_y).to(device)
        history: list[Progress] = []
        best, best_loss, step = copy.deepcopy(model.state_dict()), float("inf"), 0
        for epoch in range(1, params["epochs"] + 1):
            model.train()
            order = torch.randperm(len(x), generator=generator)
            total = 0.0
            for start in range(0, len(order), params["batch_size"]):
                if context.should_stop():
                    model.load_state_dict(best)
                    return history, True
                index = order[start : start + params["batch_size"]]
                loss = torch.nn.functional.l1_loss(model(x[index].to(device)), y[index].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(index)
                step += 1
            model.eval()
            with torch.no_grad():
                val_loss = float(torch.nn.functional.l1_loss(model(vx), vy))
            progress = Progress(
                epoch, step, {"train_mae": total / len(x), "val_mae": val_loss}, params["epochs"]
            )
            history.append(progress)
            context.callback(progress)
            if val_loss < best_loss:
                best_loss, best = val_loss, copy.deepcopy(model.state_dict())
        model.load_state_dict(best)
        model.eval()
        return history, False


def _origins(
    series_list: list[np.ndarray], lookback: int, horizon: int, *, stride: int, start: int | None = None
) -> tuple[list[list[float]], np.ndarray]:
    """Forecast origins: the values up to each origin (as a user would send them) and the truth after it."""
    inputs, truth = [], []
    for series in series_list:
        for origin in range(start or lookback, len(series) - horizon + 1, stride):
            inputs.append(series[:origin].tolist())
            truth.append(series[origin : origin + horizon])
    return inputs, np.asarray(truth).reshape(-1, horizon)


def _windows(
    series_list: list[np.ndarray], lookback: int, horizon: int, state: dict[str, Any], *, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for series in series_list:
        scaled = processing.scale(series, state)
        if len(scaled) < lookback + horizon:
            continue
        view = np.lib.stride_tricks.sliding_window_view(scaled, lookback + horizon)[::stride]
        xs.append(view[:, :lookback])
        ys.append(view[:, lookback:])
    if not xs:
        return np.zeros((0, lookback), np.float32), np.zeros((0, horizon), np.float32)
    return np.ascontiguousarray(np.concatenate(xs)), np.ascontiguousarray(np.concatenate(ys))


def _seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    last_season = history[-season:]
    return np.asarray([last_season[h % season] for h in range(horizon)])
