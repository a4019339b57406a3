"""A dense autoencoder over metric windows; `forward` returns the per-time-step reconstruction error."""

from __future__ import annotations

import torch
from torch import nn


class WindowAutoencoder(nn.Module):
    def __init__(self, window: int, metrics: int, hidden: int, latent: int) -> None:
        super().__init__()
        size = window * metrics
        self.window, self.metrics = window, metrics
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(size, hidden), nn.ReLU(), nn.Linear(hidden, latent)
        )
        self.decoder = nn.Sequential(nn.ReLU(), nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, size))

    def reconstruct(self, windows: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(windows)).reshape(-1, self.window, self.metrics)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return ((self.reconstruct(windows) - windows) ** 2).mean(dim=2)
