"""A small CNN for the chest X-ray demo: conv blocks, global average pooling, one linear layer.

With a GAP + linear head, Grad-CAM at the last block equals CAM (Zhou et al. 2016, "Learning
Deep Features for Discriminative Localization"), so the demo's explanations have a closed form.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from services.worker.demo.chest_xray import normalise

WIDTHS = (8, 16, 32, 32)


class SmallCnn(nn.Module):
    """``[n, 1, H, W]`` normalised images -> ``[n, 2]`` logits (normal, pneumonia).

    Three stride-2 blocks and one stride-1 block (conv 3x3, BatchNorm, ReLU) bring a 128x128
    image to a 16x16 feature map of ``WIDTHS[-1]`` channels, then GAP and ``Linear(32, 2)``.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for index, width in enumerate(WIDTHS):
            stride = 2 if index < len(WIDTHS) - 1 else 1
            layers += [
                nn.Conv2d(channels, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(x)), 1))


def train_cnn(
    images: np.ndarray, labels: np.ndarray, *, epochs: int, batch_size: int = 64, lr: float = 3e-3
) -> SmallCnn:
    """Train with Adam and cross-entropy on raw ``images`` ``[n, H, W]``; return it in eval mode.

    Call inside :func:`services.worker.demo.torch_export.deterministic_torch`: initial weights
    and the shuffling order come from torch's global seed.
    """
    model = SmallCnn()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=lr, total_steps=epochs * -(-len(labels) // batch_size)
    )
    x, y = torch.from_numpy(normalise(images)), torch.from_numpy(labels)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(y)).split(batch_size):
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            optimiser.step()
            schedule.step()
    return model.eval()
