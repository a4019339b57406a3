"""Log clustering: regular masks, then variable fields learned from the data (slot mining), templates
as clusters, and a learned hashed n-gram embedding that assigns lines to clusters inside ONNX."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms import schema
from mlops.algorithms.base import (
    Algorithm,
    DatasetFormat,
    ModelCard,
    Purpose,
    QualityBar,
    Sample,
    Scenario,
    TrainingContext,
    TrainingResult,
)
from mlops.algorithms.bundle import ModelBundle
from mlops.algorithms.log_clustering import processing
from mlops.algorithms.log_clustering.demo import system_logs
from mlops.algorithms.metrics import adjusted_rand_index
from mlops.algorithms.predictor import OnnxBackend, TorchBackend
from mlops.algorithms.runtime import export_onnx, resolve_device, seed_everything
from mlops.algorithms.training import FitConfig, fit_classifier
from mlops.kernel.errors import InvalidArgument


class LogClustering(Algorithm):
    id = "log-clustering-templates"
    version = "1.0.0"
    scenario = Scenario.LOG_CLUSTERING
    title = "Log clustering (template mining + learned embedding)"
    description = (
        "Groups log lines by the template that produced them, with variable fields found and masked."
    )
    dataset_format = DatasetFormat(
        media_types=("text/plain",),
        annotation="optional: the true template name, used only to score the clustering",
        annotation_schema={"type": ["string", "null"]},
        notes="One log line per sample (UTF-8). Testing samples with template names give the adjusted "
        "Rand index.",
        requires_purposes=(Purpose.TRAINING,),
    )
    quality_bars = (QualityBar("adjusted_rand_index", minimum=0.90),)

    def parameter_schema(self) -> dict[str, Any]:
        return schema.form(
            "Log clustering",
            {
                "min_variants": schema.integer(
                    "Variants for a field",
                    3,
                    2,
                    50,
                    "Different words seen in one context before that position counts as a variable field.",
                    group="model",
                    widget="number",
                ),
                "slot_rounds": schema.integer(
                    "Mining rounds",
                    3,
                    1,
                    6,
                    "Rounds of field mining; later rounds find fields next to fields.",
                    group="model",
                    widget="number",
                ),
                "min_cluster_size": schema.integer(
                    "Smallest cluster",
                    3,
                    1,
                    1000,
                    "Templates seen fewer times join their nearest cluster.",
                    group="model",
                    widget="number",
                ),
                "embedding_dim": schema.choice(
                    "Embedding size", 32, [8, 16, 32, 64], "Size of a line's vector.", group="model"
                ),
                "hash_buckets": schema.choice(
                    "Hash buckets", 16384, [1024, 4096, 16384, 65536], "Distinct token slots.", group="model"
                ),
                "epochs": schema.integer(
                    "Epochs", 8, 1, 200, "Passes of the assignment model.", group="training"
                ),
                "batch_size": schema.choice(
                    "Batch size", 64, [32, 64, 128, 256], "Lines per step.", group="training"
                ),
                "learning_rate": schema.number(
                    "Learning rate",
                    0.02,
                    0.0001,
                    0.5,
                    "Peak learning rate.",
                    group="training",
                    widget="log-slider",
                ),
                "max_tokens": schema.integer(
                    "Max tokens", 128, 8, 1024, "Tokens kept per line.", group="data", widget="number"
                ),
            },
        )

    def presets(self) -> dict[str, dict[str, Any]]:
        return {"quick": {"epochs": 2, "hash_buckets": 4096, "embedding_dim": 16}, "default": {}}

    def example_input(self) -> Any:
        return "sshd[4242]: Failed password for admin from 10.0.0.7 port 52113 ssh2"

    def sample_input(self, sample: Sample) -> Any:
        return _line(sample)

    def demo_dataset(self, seed: int = 0) -> list[Sample]:
        return system_logs(seed)

    def predictor(self, bundle: ModelBundle, *, device: str = "auto") -> processing.LogClusteringPredictor:
        backend = OnnxBackend(bundle.onnx_model, bundle.signature, device=device)
        return processing.LogClusteringPredictor(bundle.signature, bundle.preprocessing, backend)

    def train(
        self, samples: Sequence[Sample], params: dict[str, Any], context: TrainingContext
    ) -> TrainingResult:
        import torch

        from mlops.algorithms.log_clustering.model import ClusterAssigner
        from mlops.algorithms.text_classification.model import HashedNgramClassifier

        seed_everything(context.seed)
        device = resolve_device(context.device)
        splits = self.read_dataset(samples)
        training = splits.training + splits.validation
        if len(training) < 2:
            raise InvalidArgument("needs training log lines", field="dataset")
        lines = [_line(s) for s in training]
        words = [processing.tokens(line) for line in lines]
        rounds: list[list[str]] = []
        for _ in range(params["slot_rounds"]):
            slots = processing.find_slots(words, params["min_variants"])
            rounds.append(slots)
            words = [processing.fill_slots(w, set(slots)) for w in words]
        templates = [" ".join(w) for w in words]
        counts = Counter(templates)
        kept = sorted(
            (t for t, n in counts.items() if n >= params["min_cluster_size"]), key=lambda t: (-counts[t], t)
        )
        if not kept:
            raise InvalidArgument(
                "no template is frequent enough; lower min_cluster_size", field="min_cluster_size"
            )
        cluster_of = {t: i for i, t in enumerate(kept)}
        state: dict[str, Any] = {
            "hash_buckets": params["hash_buckets"],
            "max_tokens": params["max_tokens"],
            "slot_rounds": rounds,
            "known_templates": sorted(counts),
            "clusters": [
                {
                    "template": t,
                    "size": counts[t],
                    "examples": [line for line, lt in zip(lines, templates, strict=True) if lt == t][:3],
                }
                for t in kept
            ],
        }
        members = [i for i, t in enumerate(templates) if t in cluster_of]
        ids = torch.from_numpy(processing.encode([lines[i] for i in members], state))
        targets = torch.tensor([cluster_of[templates[i]] for i in members], dtype=torch.int64)
        classifier = HashedNgramClassifier(params["hash_buckets"], params["embedding_dim"], len(kept), 0.0)
        fit = fit_classifier(
            classifier,
            (ids,),
            targets,
            (ids,),
            targets,
            FitConfig(params["epochs"], params["batch_size"], params["learning_rate"]),
            context,
            device,
        )
        model = ClusterAssigner(classifier)
        signature = processing.signature()
        evaluator = processing.LogClusteringPredictor(
            signature, state, TorchBackend(model, signature, device)
        )
        testing = splits.testing or training
        predictions = evaluator.predict([_line(s) for s in testing])
        metrics: dict[str, float] = {
            "clusters": float(len(kept)),
            "novel_share": float(np.mean([p["novel"] for p in predictions])),
        }
        if all(s.annotation is not None for s in testing):
            truth = [str(s.annotation) for s in testing]
            assigned = np.asarray([p["cluster"] for p in predictions])
            metrics["adjusted_rand_index"] = adjusted_rand_index(truth, assigned)
            metrics["true_templates"] = float(len(set(truth)))
        onnx_model = export_onnx(
            model,
            (ids[:2],),
            [processing.INPUT],
            list(processing.OUTPUTS),
            {
                processing.INPUT: {0: "batch", 1: "tokens"},
                "cluster": {0: "batch"},
                "probability": {0: "batch"},
            },
        )
        card = ModelCard(
            title=self.title,
            intended_use="Group log lines by template to count them, link them to examples and notice new "
            "kinds of lines (novel).",
            data=f"{len(training)} training and {len(testing)} testing lines.",
            metrics=metrics,
            limits="Clusters are the templates of the training period: a new template is assigned to the "
            "closest old cluster and flagged novel. Fields with fewer variants than min_variants in "
            "training split a template in two.",
            training=f"{len(kept)} clusters from {len(counts)} templates, {len(fit.history)} epochs, "
            f"seed {context.seed}.",
        )
        bundle = ModelBundle(
            self.id, self.version, onnx_model, signature, state, metrics, dict(params), card.to_markdown()
        )
        evaluation = {
            "history": [{"epoch": p.epoch, **p.metrics} for p in fit.history],
            "training_seconds": fit.seconds,
            "cluster_sizes": [c["size"] for c in state["clusters"]],
            "predictions": [{"key": s.key, **p} for s, p in zip(testing, predictions, strict=True)],
        }
        return TrainingResult(bundle, metrics, evaluation, card, stopped=fit.stopped, history=fit.history)


def _line(sample: Sample) -> str:
    try:
        return sample.content.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError:
        raise InvalidArgument(f"sample {sample.key} is not UTF-8 text", field="dataset") from None
