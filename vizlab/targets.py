"""What to explain: turn a ``target`` into one score per image.

Every method in vizlab explains a *score*: one number per image that the network computes.
``target`` says which number:

* ``None`` -- the predicted class of each image (argmax of the logits);
* an ``int`` -- that class for every image;
* a list / tuple / 1-D tensor of ints -- one class per image;
* a callable ``logits -> Tensor[N]`` -- any score you like, e.g. ``lambda z: z[:, 281] - z[:, 285]``.
"""
from __future__ import annotations

from typing import Callable, Sequence, Union

import torch

Target = Union[None, int, Sequence[int], torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]


def class_indices(target: Target, logits: torch.Tensor) -> torch.Tensor:
    """The class index per image that ``target`` names, as a long tensor of shape [N].

    Not defined for a callable target (it need not pick a class at all).
    """
    n, num_classes = logits.shape[0], logits.shape[-1]
    if target is None:
        return logits.detach().argmax(dim=-1)
    if callable(target):
        raise TypeError("a callable target has no class index; pass an int or a list of ints")
    if isinstance(target, bool):
        raise TypeError("target must be an int class index, not a bool")
    if isinstance(target, int):
        idx = torch.full((n,), target, dtype=torch.long)
    else:
        idx = torch.as_tensor(target).reshape(-1).long()
        if idx.numel() == 1 and n > 1:
            idx = idx.expand(n)
        if idx.numel() != n:
            raise ValueError(f"target names {idx.numel()} classes but the batch holds {n} images; "
                             "pass one class per image, or a single int for all")
    if (idx < 0).any() or (idx >= num_classes).any():
        raise ValueError(f"target class {idx.tolist()} is outside 0..{num_classes - 1} "
                         f"(the model has {num_classes} outputs)")
    return idx.to(logits.device)


def scores(target: Target, logits: torch.Tensor) -> torch.Tensor:
    """One score per image, shape [N], still attached to the graph so it can be differentiated."""
    if logits.ndim != 2:
        raise ValueError(f"expected logits of shape [N, classes], got {tuple(logits.shape)}")
    if callable(target):
        out = target(logits)
        if not isinstance(out, torch.Tensor) or out.shape != (logits.shape[0],):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"a callable target must return a tensor of shape [N]={logits.shape[0]}, got {got}")
        return out
    idx = class_indices(target, logits)
    return logits.gather(1, idx[:, None])[:, 0]
