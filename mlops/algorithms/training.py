"""A deterministic mini-batch training loop for classifiers, with progress reports and stop checks.

The module trained must have `logits(*inputs)`; its `forward` (what ONNX exports) returns
probabilities. The weights of the best validation epoch are kept.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from mlops.algorithms.base import Progress, TrainingContext
from mlops.algorithms.metrics import confusion_matrix, per_class_report
from mlops.algorithms.runtime import torch_generator

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class FitConfig:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.0


@dataclass
class FitOutcome:
    history: list[Progress]
    stopped: bool
    best_epoch: int
    seconds: float


Augment = Callable[["torch.Tensor", "torch.Generator"], "torch.Tensor"]


def describe_fit(fit: FitOutcome, seed: int) -> str:
    """The model card's training line. No wall-clock time: a repeated training must give the same bundle."""
    return f"{len(fit.history)} epochs (best epoch {fit.best_epoch}), seed {seed}."


def classification_evaluation(
    labels: list[str],
    truth: np.ndarray,
    predicted: np.ndarray,
    fit: FitOutcome,
    predictions: list[dict[str, Any]],
) -> dict[str, Any]:
    """The evaluation artifact of a classifier: confusion matrix, per-class report, history, predictions."""
    return {
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(truth, predicted, len(labels)).tolist(),
        },
        "per_class": per_class_report(truth, predicted, labels),
        "history": [{"epoch": p.epoch, **p.metrics} for p in fit.history],
        "training_seconds": fit.seconds,
        "predictions": predictions,
    }


def fit_classifier(
    model: torch.nn.Module,
    train_inputs: tuple[torch.Tensor, ...],
    train_labels: torch.Tensor,
    val_inputs: tuple[torch.Tensor, ...],
    val_labels: torch.Tensor,
    config: FitConfig,
    context: TrainingContext,
    device: torch.device,
    augment: Augment | None = None,
) -> FitOutcome:
    import torch

    started = time.monotonic()
    generator = torch_generator(context.seed)
    model.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=config.learning_rate,
        total_steps=config.epochs * max(1, -(-len(train_labels) // config.batch_size)),
    )
    history: list[Progress] = []
    best_state = copy.deepcopy(model.state_dict())
    best_score, best_epoch, step, stopped = (-1.0, 0.0), 0, 0, False
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(train_labels), generator=generator)
        total_loss = 0.0
        for start in range(0, len(order), config.batch_size):
            if context.should_stop():
                stopped = True
                break
            index = order[start : start + config.batch_size]
            batch = [t[index] for t in train_inputs]
            if augment is not None:
                batch[0] = augment(batch[0], generator)
            batch = [t.to(device) for t in batch]
            loss = torch.nn.functional.cross_entropy(_logits(model)(*batch), train_labels[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * len(index)
            step += 1
        if stopped:
            break
        val_loss, val_accuracy = _evaluate(model, val_inputs, val_labels, device)
        metrics = {
            "train_loss": total_loss / len(train_labels),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "learning_rate": float(scheduler.get_last_lr()[0]),
        }
        progress = Progress(epoch=epoch, step=step, metrics=metrics, total_epochs=config.epochs)
        history.append(progress)
        context.callback(progress)
        # Accuracy saturates on small validation sets; the loss breaks ties.
        if (val_accuracy, -val_loss) > best_score:
            best_score, best_epoch = (val_accuracy, -val_loss), epoch
            best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    return FitOutcome(
        history=history, stopped=stopped, best_epoch=best_epoch, seconds=time.monotonic() - started
    )


def _evaluate(
    model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor, device: torch.device
) -> tuple[float, float]:
    import torch

    if len(labels) == 0:
        return 0.0, 0.0
    model.eval()
    with torch.no_grad():
        logits = _logits(model)(*(t.to(device) for t in inputs))
        loss = torch.nn.functional.cross_entropy(logits, labels.to(device))
        accuracy = (logits.argmax(dim=1).cpu() == labels).float().mean()
    return float(loss), float(accuracy)


def _logits(model: torch.nn.Module) -> Callable[..., Any]:
    """The module's `logits` method (nn.Module's typing only knows tensors and sub-modules)."""
    return cast(Callable[..., Any], model.logits)
