"""A fastText-style classifier: the mean of hashed n-gram embeddings, then a linear layer."""

from __future__ import annotations

import torch
from torch import nn


class HashedNgramClassifier(nn.Module):
    def __init__(self, buckets: int, dim: int, classes: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(buckets, dim, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=0.1)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(dim, classes)

    def logits(self, token_ids: torch.Tensor) -> torch.Tensor:
        mask = (token_ids != 0).to(torch.float32).unsqueeze(-1)
        summed = (self.embedding(token_ids) * mask).sum(dim=1)
        mean = summed / mask.sum(dim=1).clamp(min=1.0)
        return self.output(self.dropout(mean))

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(token_ids), dim=1)
