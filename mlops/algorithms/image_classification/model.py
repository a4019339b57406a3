"""A small CNN for image classification; `forward` returns probabilities (what ONNX serves)."""

from __future__ import annotations

import torch
from torch import nn


def _block(channels_in: int, channels_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(),
    ]


class SmallCNN(nn.Module):
    def __init__(self, channels: int, size: int, classes: int, width: int, dropout: float) -> None:
        super().__init__()
        # Pool down to at most 4x4 so the classifier head stays small for larger inputs.
        pools = 0
        while size // 2 ** (pools + 1) >= 4:
            pools += 1
        layers: list[nn.Module] = [*_block(channels, width), *_block(width, width)]
        current = width
        for _ in range(max(pools, 1)):
            layers += [nn.MaxPool2d(2), *_block(current, current * 2)]
            current *= 2
        self.features = nn.Sequential(*layers)
        side = size // 2 ** max(pools, 1)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(current * side * side, classes)
        )

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(images), dim=1)
