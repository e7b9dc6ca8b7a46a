"""The small seeded networks the chapters' graded exercises run on.

Each exercise checks a student's function against the reference on a network small enough that a
check takes about a second, and seeded, so that every student gets the same cases. Building one
never touches the global random state: the weights are drawn inside ``torch.random.fork_rng`` after
``torch.manual_seed(seed)``, so they are the weights a notebook cell gets by seeding and then
constructing the same layers.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

__all__ = ["tiny_cnn", "vgg_like"]


def _seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``build()`` with torch's global generator seeded by ``seed``, then restored as it was."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().eval()


def tiny_cnn(widths: tuple[int, int] = (6, 8), classes: int = 4, seed: int = 0) -> nn.Sequential:
    """A two-layer CNN with a global-average-pooling head, for RGB inputs of any size:

        conv 3x3 (3 -> w1) . ReLU . conv 3x3 stride 2 (w1 -> w2) . ReLU . GAP . linear (w2 -> classes)

    Layer names are the indices ``"0"`` .. ``"6"``; ``"3"`` is the last ReLU (CAM's layer). In eval mode."""
    w1, w2 = widths
    return _seeded(lambda: nn.Sequential(nn.Conv2d(3, w1, 3, padding=1), nn.ReLU(),
                                         nn.Conv2d(w1, w2, 3, stride=2, padding=1), nn.ReLU(),
                                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w2, classes)), seed)


def vgg_like(seed: int = 0) -> nn.Sequential:
    """A VGG-shaped CNN with a fully connected head, for ``[N, 3, 16, 16]`` inputs and 5 classes:

        conv 3x3 (3 -> 6) . ReLU . max-pool 2 . conv 3x3 (6 -> 8) . ReLU . flatten . linear (512 -> 16) . ReLU
        . linear (16 -> 5)

    CAM cannot explain it (no global average pooling); Grad-CAM can, at the last ReLU ``"4"`` (8 x 8 x 8)."""
    return _seeded(lambda: nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                         nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
                                         nn.Flatten(), nn.Linear(8 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, 5)), seed)
