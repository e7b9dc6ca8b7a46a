"""What to explain: turn a ``target`` into one score per image.

Every method in vizlab explains a *score*: one number per image that the network computes.
``target`` says which number:

* ``None`` -- the predicted class of each image (argmax of the logits);
* an ``int`` -- that class for every image;
* a list / tuple / 1-D tensor of ints -- one class per image;
* a class name (``"tabby"``) or a list of names -- resolved with ``vizlab.class_index`` by
  ``resolve(target, model)``, which every entry point calls;
* a callable ``logits -> Tensor[N]`` -- any score you like, e.g. ``lambda z: z[:, 281] - z[:, 285]``.

A method that runs the model again on changed copies of the input (noisy, masked, interpolated, attacked)
first ``freeze``s the target at the clean input, so the class it explains does not change when a copy's
prediction does. Every family calls the same ``freeze``: attributions, CAMs, occlusion, attacks and metrics.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import torch

from .lookup import class_index

Target = Union[None, int, str, Sequence[int], Sequence[str], torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]


def resolve(target: Target, model) -> Target:
    """``target`` with class names replaced by their indices (``"tabby"`` -> 281) using the model's
    class names; a typo gets the closest names. Anything else is returned as is."""
    if isinstance(target, str):
        return class_index(model, target)
    if isinstance(target, (list, tuple)) and any(isinstance(t, str) for t in target):
        return [class_index(model, t) if isinstance(t, str) else t for t in target]
    return target


def freeze(target: Target, model, n: int, clean_logits=None) -> Union[torch.Tensor, Callable]:
    """``target`` fixed at the clean input: a callable is returned as is; anything else becomes one class
    index per image, a long tensor ``[n]``.

    * class names are resolved with the model's class names (``resolve``);
    * ``None`` is the clean prediction: ``argmax`` of ``clean_logits`` (the clean input's logits ``[n,
      classes]``, or a function returning them -- called only for ``None``, so a given class costs no forward
      pass);
    * one class is used for every image; a list must hold one class per image.

    When ``clean_logits`` is a tensor, the classes are also checked against the number of outputs.
    """
    target = resolve(target, model)
    if callable(target):
        return target
    if isinstance(clean_logits, torch.Tensor):
        logits = clean_logits
    elif target is None and clean_logits is not None:
        logits = clean_logits()
    else:
        logits = None
    if target is None or logits is not None:
        if logits is None:
            raise ValueError("target=None means the predicted class: pass the clean logits to freeze it")
        if logits.shape[0] != n:
            raise ValueError(f"clean_logits hold {logits.shape[0]} images, not {n}")
        return class_indices(target, logits)
    if isinstance(target, bool):
        raise TypeError("target must be an int class index, not a bool")
    idx = _as_indices(target)
    if idx.numel() == 1:
        idx = idx.expand(n)
    if idx.numel() != n:
        raise ValueError(_count_mismatch(idx.numel(), n))
    if (idx < 0).any():
        raise ValueError(f"target class {int(idx.min())} is negative; class indices start at 0")
    return idx


def _count_mismatch(classes: int, images: int) -> str:
    """The one error text for a target list of the wrong length."""
    return (f"target names {classes} classes but the batch holds {images} image{'s' * (images != 1)}; "
            "pass one class per image, or a single int for all")


def _as_indices(target) -> torch.Tensor:
    """A non-callable, non-None target as a long tensor of class indices, refusing non-integers."""
    if isinstance(target, str) or (isinstance(target, (list, tuple)) and any(isinstance(t, str) for t in target)):
        raise TypeError(f"target {target!r} is a class name; resolve it with vizlab.class_index(model, name) "
                        "(vizlab's methods do that for you)")
    try:
        idx = torch.as_tensor(target)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"target must be None, an int class index, a class name, a list of those or a callable "
                        f"logits -> [N]; got {type(target).__name__}") from None
    if idx.dtype == torch.bool:
        raise TypeError("target must be an int class index, not a bool")
    if idx.is_floating_point() or idx.is_complex():
        raise TypeError(f"target must be a whole-number class index, got {target!r}; "
                        "a class index is an int such as 281 (round it yourself if you mean to)")
    return idx.reshape(-1).long()


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
        idx = _as_indices(target)
        if idx.numel() == 1 and n > 1:
            idx = idx.expand(n)
        if idx.numel() != n:
            raise ValueError(_count_mismatch(idx.numel(), n))
    bad = (idx < 0) | (idx >= num_classes)
    if bad.device.type != "meta" and bad.any():  # meta tensors (device tests) hold no values
        wrong = sorted(set(idx[bad].tolist()))
        raise ValueError(f"target class {wrong[0] if len(wrong) == 1 else wrong} is outside 0..{num_classes - 1} "
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
        if logits.requires_grad and not out.requires_grad:
            raise ValueError("the callable target returned a tensor that is not computed from the logits "
                             "(did it use .detach(), .item(), .numpy() or torch.tensor(...)?); return an "
                             "expression of the logits, e.g. lambda z: z[:, 281] - z[:, 285]")
        return out
    idx = class_indices(target, logits)
    return logits.gather(1, idx[:, None])[:, 0]
