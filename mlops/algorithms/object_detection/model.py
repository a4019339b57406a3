"""A compact CenterNet-style detector: class heat-maps, box sizes and centre offsets at stride 4,
with peak picking (3x3 max-pool NMS) and top-k decoding inside the exported graph."""

from __future__ import annotations

import torch
from torch import nn

STRIDE = 4


def _conv(channels_in: int, channels_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(),
    )


class CenterNet(nn.Module):
    def __init__(self, classes: int, width: int, detections: int) -> None:
        super().__init__()
        self.detections = detections
        self.backbone = nn.Sequential(
            _conv(3, width // 2),
            _conv(width // 2, width, stride=2),
            _conv(width, width),
            _conv(width, width * 2, stride=2),
            _conv(width * 2, width * 2),
            _conv(width * 2, width * 2),
        )
        self.heatmap = nn.Sequential(_conv(width * 2, width), nn.Conv2d(width, classes, 1))
        self.regression = nn.Sequential(_conv(width * 2, width), nn.Conv2d(width, 4, 1))
        # Start with a low object prior so the focal loss is stable from the first step.
        head = self.heatmap[-1]
        assert isinstance(head, nn.Conv2d) and head.bias is not None
        nn.init.constant_(head.bias, -2.19)

    def raw(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(images)
        return self.heatmap(features), self.regression(features)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, regression = self.raw(images)
        heat = torch.sigmoid(logits)
        peaks = heat * (nn.functional.max_pool2d(heat, 3, stride=1, padding=1) == heat).to(heat.dtype)
        batch, _, height, width = heat.shape
        scores, index = peaks.reshape(batch, -1).topk(self.detections, dim=1)
        labels = index // (height * width)
        position = index % (height * width)
        ys = (position // width).to(heat.dtype)
        xs = (position % width).to(heat.dtype)
        gathered = regression.reshape(batch, 4, height * width).gather(
            2, position.unsqueeze(1).expand(-1, 4, -1)
        )
        centre_x = (xs + gathered[:, 0]) * STRIDE
        centre_y = (ys + gathered[:, 1]) * STRIDE
        half_w = torch.exp(gathered[:, 2]) * STRIDE / 2
        half_h = torch.exp(gathered[:, 3]) * STRIDE / 2
        boxes = torch.stack(
            [centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h], dim=2
        )
        return boxes, scores, labels
