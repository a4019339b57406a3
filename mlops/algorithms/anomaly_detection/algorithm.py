"""Anomaly detection: a window autoencoder over multivariate metrics, threshold calibrated on validation."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms import schema
from mlops.algorithms.anomaly_detection import processing
from mlops.algorithms.anomaly_detection.demo import service_metrics
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
from mlops.algorithms.metrics import best_f1_threshold, binary_f1, roc_auc, roc_curve
from mlops.algorithms.predictor import OnnxBackend, TorchBackend
from mlops.algorithms.runtime import export_onnx, resolve_device, seed_everything, torch_generator
from mlops.algorithms.series import MEDIA_TYPE, SeriesTable, read_series_csv
from mlops.kernel.errors import InvalidArgument


class AnomalyDetection(Algorithm):
    id = "anomaly-detection-autoencoder"
    version = "1.0.0"
    scenario = Scenario.ANOMALY_DETECTION
    title = "Anomaly detection (window autoencoder)"
    description = "Learns what normal metric windows look like; scores each point by reconstruction error."
    dataset_format = DatasetFormat(
        media_types=(MEDIA_TYPE,),
        annotation="none: per-point labels, when there are any, are the series' label column",
        annotation_schema={"type": "null"},
        notes="One monitored service (or machine) per sample: a series CSV as the dataset service stores "
        "an uploaded series file (upload format file): 'timestamp', one column per metric (the same "
        "metrics in every sample), optional 'label' per row (0/normal or empty = normal, anything else "
        "anomalous). Labels on validation series calibrate the threshold (without them a score quantile "
        "is used); labels on testing series give F1 and ROC-AUC.",
    )
    quality_bars = (QualityBar("f1", minimum=0.80), QualityBar("roc_auc", minimum=0.90))

    def parameter_schema(self) -> dict[str, Any]:
        return schema.form(
            "Anomaly detection",
            {
                "window": schema.integer(
                    "Window", 16, 4, 96, "Time steps the model sees at once.", group="data"
                ),
                "epochs": schema.integer(
                    "Epochs", 40, 1, 300, "Passes over the training windows.", group="training"
                ),
                "batch_size": schema.choice(
                    "Batch size", 128, [32, 64, 128, 256], "Windows per step.", group="training"
                ),
                "learning_rate": schema.number(
                    "Learning rate",
                    0.003,
                    0.00001,
                    0.1,
                    "Adam learning rate.",
                    group="training",
                    widget="log-slider",
                ),
                "hidden": schema.choice(
                    "Hidden units", 64, [16, 32, 64, 128, 256], "Width of the autoencoder.", group="model"
                ),
                "latent": schema.integer(
                    "Bottleneck", 6, 1, 64, "Size of the compressed window.", group="model"
                ),
                "threshold_method": schema.choice(
                    "Threshold",
                    "best_f1",
                    ["best_f1", "quantile"],
                    "best_f1 uses validation labels; quantile flags the top scores of validation data.",
                    group="output",
                ),
                "quantile": schema.number(
                    "Quantile",
                    0.98,
                    0.5,
                    0.9999,
                    "Validation score quantile used as threshold (quantile method).",
                    group="output",
                ),
                "exclude_labelled": schema.boolean(
                    "Skip labelled anomalies",
                    True,
                    "Leave windows with labelled anomalies out of training.",
                    group="data",
                ),
            },
        )

    def presets(self) -> dict[str, dict[str, Any]]:
        return {"quick": {"epochs": 3, "hidden": 32}, "default": {}}

    def example_input(self) -> Any:
        return [list(row) for row in _table(service_metrics(series_count=1)[0]).rows[:64]]

    def sample_input(self, sample: Sample) -> Any:
        return [list(row) for row in _table(sample).rows]

    def demo_dataset(self, seed: int = 0) -> list[Sample]:
        return service_metrics(seed)

    def predictor(self, bundle: ModelBundle, *, device: str = "auto") -> processing.AnomalyDetectionPredictor:
        backend = OnnxBackend(bundle.onnx_model, bundle.signature, device=device)
        return processing.AnomalyDetectionPredictor(bundle.signature, bundle.preprocessing, backend)

    def train(
        self, samples: Sequence[Sample], params: dict[str, Any], context: TrainingContext
    ) -> TrainingResult:
        import torch

        from mlops.algorithms.anomaly_detection.model import WindowAutoencoder

        seed_everything(context.seed)
        device = resolve_device(context.device)
        splits = self.read_dataset(samples)
        if not splits.training or not splits.testing or not splits.validation:
            raise InvalidArgument("needs samples labelled training, validation and testing", field="dataset")
        window = params["window"]
        names = list(_table(splits.training[0]).columns)
        for sample in splits.training + splits.validation + splits.testing:
            if list(_table(sample).columns) != names:
                raise InvalidArgument(
                    f"sample {sample.key}: metrics {list(_table(sample).columns)}, expected {names} as in "
                    f"{splits.training[0].key}",
                    field="dataset",
                )
        train_series = [self._series(s, len(names), window) for s in splits.training]
        stacked = np.concatenate([series for series, _ in train_series])
        state: dict[str, Any] = {
            "metrics": names,
            "window": window,
            "mean": stacked.mean(axis=0).tolist(),
            "std": np.maximum(stacked.std(axis=0), 1e-6).tolist(),
            "threshold": 0.0,
        }
        train_windows = []
        for series, labels in train_series:
            keep = np.ones(len(series) - window + 1, dtype=bool)
            if params["exclude_labelled"] and labels is not None:
                covered = np.lib.stride_tricks.sliding_window_view(labels, window).max(axis=1)
                keep = covered == 0
            train_windows.append(processing.windows(series, state)[keep])
        data = torch.from_numpy(np.concatenate(train_windows))
        model = WindowAutoencoder(window, len(names), params["hidden"], params["latent"]).to(device)
        signature = processing.signature(window, len(names))
        started = time.monotonic()
        history, stopped, best = self._fit(model, data, params, context, device)
        model.load_state_dict(best)
        model.eval()
        seconds = time.monotonic() - started

        evaluator = processing.AnomalyDetectionPredictor(
            signature, state, TorchBackend(model, signature, device)
        )
        val_inputs = [self.sample_input(s) for s in splits.validation]
        val_scores = np.concatenate([r["scores"] for r in evaluator.predict(val_inputs)])
        val_labels = _labels(splits.validation)
        if params["threshold_method"] == "best_f1" and val_labels is not None and val_labels.any():
            state["threshold"] = best_f1_threshold(val_labels, val_scores)
        else:
            state["threshold"] = float(np.quantile(val_scores, params["quantile"]))
        predictions = evaluator.predict([self.sample_input(s) for s in splits.testing])
        scores = np.concatenate([p["scores"] for p in predictions])
        flags = np.concatenate([p["flags"] for p in predictions])
        metrics: dict[str, float] = {"threshold": state["threshold"]}
        truth = _labels(splits.testing)
        curve: dict[str, list[float]] = {}
        if truth is not None:
            metrics.update(binary_f1(truth, flags))
            metrics["roc_auc"] = roc_auc(truth, scores)
            curve = roc_curve(truth, scores)
        onnx_model = export_onnx(
            model,
            (data[:2],),
            [processing.INPUT],
            [processing.OUTPUT],
            {processing.INPUT: {0: "batch"}, processing.OUTPUT: {0: "batch"}},
        )
        card = ModelCard(
            title=self.title,
            intended_use=f"Flag unusual points in the metrics {', '.join(names)} sampled at the training "
            "data's interval.",
            data=f"{len(splits.training)} training, {len(splits.validation)} validation and "
            f"{len(splits.testing)} testing series.",
            metrics=metrics,
            limits="Learns the normal behaviour of the training period: new seasonality, deployments or "
            "capacity changes raise scores until it is retrained. "
            f"Needs {window} points or more per request.",
            training=f"{len(history)} epochs, seed {context.seed}, threshold: {params['threshold_method']}.",
        )
        bundle = ModelBundle(
            self.id, self.version, onnx_model, signature, state, metrics, dict(params), card.to_markdown()
        )
        evaluation = {
            "history": [{"epoch": p.epoch, **p.metrics} for p in history],
            "training_seconds": seconds,
            "roc_curve": curve,
            "predictions": [{"key": s.key, **p} for s, p in zip(splits.testing, predictions, strict=True)],
        }
        return TrainingResult(bundle, metrics, evaluation, card, stopped=stopped, history=history)

    @staticmethod
    def _series(sample: Sample, metrics: int, window: int) -> tuple[np.ndarray, np.ndarray | None]:
        table = _table(sample)
        series = processing.parse_series([list(row) for row in table.rows], metrics, window)
        labels = table.anomaly_flags()
        return series, None if labels is None else np.asarray(labels, dtype=np.int64)

    @staticmethod
    def _fit(
        model: Any, data: Any, params: dict[str, Any], context: TrainingContext, device: Any
    ) -> tuple[list[Progress], bool, dict[str, Any]]:
        import torch

        generator = torch_generator(context.seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=params["learning_rate"])
        history: list[Progress] = []
        best, best_loss, step = copy.deepcopy(model.state_dict()), float("inf"), 0
        for epoch in range(1, params["epochs"] + 1):
            model.train()
            order = torch.randperm(len(data), generator=generator)
            total = 0.0
            for start in range(0, len(order), params["batch_size"]):
                if context.should_stop():
                    return history, True, best
                batch = data[order[start : start + params["batch_size"]]].to(device)
                loss = model(batch).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
                step += 1
            progress = Progress(epoch, step, {"train_loss": total / len(data)}, params["epochs"])
            history.append(progress)
            context.callback(progress)
            if progress.metrics["train_loss"] < best_loss:
                best_loss, best = progress.metrics["train_loss"], copy.deepcopy(model.state_dict())
        return history, False, best


def _table(sample: Sample) -> SeriesTable:
    return read_series_csv(sample.content, where=f"sample {sample.key}")


def _labels(samples: list[Sample]) -> np.ndarray | None:
    parts = []
    for sample in samples:
        flags = _table(sample).anomaly_flags()
        if flags is None:
            return None
        parts.append(np.asarray(flags, dtype=np.int64))
    return np.concatenate(parts)
