"""Text classification: hashed word n-gram embeddings (fastText-style), served as ONNX."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms import schema
from mlops.algorithms.base import (
    Algorithm,
    DatasetFormat,
    ModelCard,
    QualityBar,
    Sample,
    Scenario,
    TrainingContext,
    TrainingResult,
)
from mlops.algorithms.bundle import ModelBundle
from mlops.algorithms.metrics import classification_metrics
from mlops.algorithms.predictor import OnnxBackend, TorchBackend
from mlops.algorithms.runtime import export_onnx, resolve_device, seed_everything
from mlops.algorithms.text_classification import processing
from mlops.algorithms.text_classification.demo import support_messages
from mlops.algorithms.training import FitConfig, classification_evaluation, describe_fit, fit_classifier
from mlops.kernel.errors import InvalidArgument


class TextClassification(Algorithm):
    id = "text-classification-ngram"
    version = "1.0.0"
    scenario = Scenario.TEXT_CLASSIFICATION
    title = "Text classification (hashed n-gram embeddings)"
    description = "A fastText-style classifier: word and phrase features hashed into a learned embedding."
    dataset_format = DatasetFormat(
        media_types=("text/plain",),
        annotation="the text's label name (a string)",
        annotation_schema={"type": "string", "minLength": 1},
        notes="Sample content is UTF-8 text, one document per sample.",
    )
    quality_bars = (QualityBar("macro_f1", minimum=0.90),)

    def parameter_schema(self) -> dict[str, Any]:
        return schema.form(
            "Text classification",
            {
                "epochs": schema.integer(
                    "Epochs", 20, 1, 200, "Passes over the training texts.", group="training"
                ),
                "batch_size": schema.choice(
                    "Batch size", 32, [16, 32, 64, 128], "Texts per step.", group="training"
                ),
                "learning_rate": schema.number(
                    "Learning rate",
                    0.02,
                    0.0001,
                    0.5,
                    "Peak learning rate of the one-cycle schedule.",
                    group="training",
                    widget="log-slider",
                ),
                "weight_decay": schema.number(
                    "Weight decay", 0.0, 0.0, 0.1, "AdamW weight decay.", group="training", widget="number"
                ),
                "embedding_dim": schema.choice(
                    "Embedding size", 32, [16, 32, 64, 128], "Size of each n-gram's vector.", group="model"
                ),
                "hash_buckets": schema.choice(
                    "Hash buckets",
                    32768,
                    [4096, 16384, 32768, 65536, 262144],
                    "Distinct feature slots; more means fewer collisions and a larger model.",
                    group="model",
                ),
                "dropout": schema.number(
                    "Dropout", 0.2, 0.0, 0.8, "Dropout before the classifier.", group="model"
                ),
                "ngrams": schema.integer(
                    "Longest n-gram",
                    2,
                    1,
                    3,
                    "1 uses single words, 2 adds word pairs, 3 word triples.",
                    group="data",
                    widget="number",
                ),
                "max_tokens": schema.integer(
                    "Max features",
                    256,
                    16,
                    2048,
                    "Features kept per text; longer texts are cut.",
                    group="data",
                    widget="number",
                ),
                "lowercase": schema.boolean("Lower-case", True, "Ignore letter case.", group="data"),
            },
        )

    def presets(self) -> dict[str, dict[str, Any]]:
        return {"quick": {"epochs": 4, "hash_buckets": 4096, "embedding_dim": 16}, "default": {}}

    def example_input(self) -> Any:
        return "Hi, my parcel has not arrived after ten days, order #12345. Thanks."

    def demo_dataset(self, seed: int = 0) -> list[Sample]:
        return support_messages(seed)

    def sample_input(self, sample: Sample) -> Any:
        return _text(sample)

    def predictor(
        self, bundle: ModelBundle, *, device: str = "auto"
    ) -> processing.TextClassificationPredictor:
        backend = OnnxBackend(bundle.onnx_model, bundle.signature, device=device)
        return processing.TextClassificationPredictor(bundle.signature, bundle.preprocessing, backend)

    def train(
        self, samples: Sequence[Sample], params: dict[str, Any], context: TrainingContext
    ) -> TrainingResult:
        import torch

        from mlops.algorithms.text_classification.model import HashedNgramClassifier

        seed_everything(context.seed)
        device = resolve_device(context.device)
        splits = self.read_dataset(samples)
        if not splits.training or not splits.testing:
            raise InvalidArgument("needs samples labelled training and testing", field="dataset")
        labels = sorted({str(s.annotation) for s in samples})
        label_index = {label: i for i, label in enumerate(labels)}
        state: dict[str, Any] = {
            "labels": labels,
            "hash_buckets": params["hash_buckets"],
            "ngrams": params["ngrams"],
            "max_tokens": params["max_tokens"],
            "lowercase": params["lowercase"],
        }

        def load(split: list[Sample]) -> tuple[torch.Tensor, torch.Tensor]:
            ids = processing.encode([_text(s) for s in split], state)
            targets = np.asarray([label_index[str(s.annotation)] for s in split], dtype=np.int64)
            return torch.from_numpy(ids), torch.from_numpy(targets)

        train_x, train_y = load(splits.training)
        val_x, val_y = load(splits.validation or splits.training)
        model = HashedNgramClassifier(
            params["hash_buckets"], params["embedding_dim"], len(labels), params["dropout"]
        )
        fit = fit_classifier(
            model,
            (train_x,),
            train_y,
            (val_x,),
            val_y,
            FitConfig(
                params["epochs"], params["batch_size"], params["learning_rate"], params["weight_decay"]
            ),
            context,
            device,
        )
        signature = processing.signature(len(labels))
        evaluator = processing.TextClassificationPredictor(
            signature, state, TorchBackend(model, signature, device)
        )
        texts = [_text(s) for s in splits.testing]
        predictions = evaluator.predict(texts)
        truth = np.asarray([label_index[str(s.annotation)] for s in splits.testing])
        predicted = np.asarray([label_index[p["label"]] for p in predictions])
        metrics = classification_metrics(truth, predicted, len(labels))
        onnx_model = export_onnx(
            model,
            (train_x[:2],),
            [processing.INPUT],
            [processing.OUTPUT],
            {processing.INPUT: {0: "batch", 1: "tokens"}, processing.OUTPUT: {0: "batch"}},
        )
        card = ModelCard(
            title=self.title,
            intended_use=f"Route short texts to one of: {', '.join(labels)}.",
            data=f"{len(splits.training)} training, {len(splits.validation)} validation and "
            f"{len(splits.testing)} testing texts.",
            metrics=metrics,
            limits="Word order beyond n-grams is ignored; texts in languages or domains absent from training "
            "get unreliable labels; probabilities are not calibrated.",
            training=describe_fit(fit, context.seed),
        )
        bundle = ModelBundle(
            self.id, self.version, onnx_model, signature, state, metrics, dict(params), card.to_markdown()
        )
        evaluation = classification_evaluation(
            labels,
            truth,
            predicted,
            fit,
            [
                {"key": s.key, "text": t, "truth": str(s.annotation), **p}
                for s, t, p in zip(splits.testing, texts, predictions, strict=True)
            ],
        )
        return TrainingResult(bundle, metrics, evaluation, card, stopped=fit.stopped, history=fit.history)


def _text(sample: Sample) -> str:
    try:
        return sample.content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument(f"sample {sample.key} is not UTF-8 text", field="dataset") from None
