"""The assignment served by ONNX: a hashed n-gram embedding classifier over the mined templates."""

from __future__ import annotations

import torch
from torch import nn

from mlops.algorithms.text_classification.model import HashedNgramClassifier


class ClusterAssigner(nn.Module):
    def __init__(self, classifier: HashedNgramClassifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probability, cluster = torch.softmax(self.classifier.logits(token_ids), dim=1).max(dim=1)
        return cluster, probability
