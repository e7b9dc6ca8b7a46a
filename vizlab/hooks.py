"""The one place in vizlab that registers hooks on a model -- and always removes them.

``capture`` runs a model once and returns what named layers computed (and, on request, the
gradient of a score with respect to them). It leaves the model exactly as it found it: no hooks,
the same ``training`` and ``requires_grad`` flags, untouched weights and no parameter ``.grad``.

How it works, in three lines a student can check:

1. a *forward hook* on each named module stores its output ``A`` (and passes a copy onwards, so
   a later in-place operation such as ResNet's ``out += identity`` cannot overwrite ``A``);
2. the score ``y = target(logits)`` is computed from the logits;
3. ``torch.autograd.grad(y.sum(), A)`` gives ``dy/dA`` without touching any parameter's ``.grad``.

Module *backward* hooks are deliberately not used: they break on in-place ReLUs.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence, Union

import torch
from torch import nn

from . import targets as _targets
from .models import find_layer

ForwardHook = Callable[[nn.Module, tuple, torch.Tensor], Union[torch.Tensor, None]]


@contextlib.contextmanager
def preserve_state(model: nn.Module) -> Iterator[nn.Module]:
    """Restore every module's ``training`` flag, every parameter's ``requires_grad`` and every
    buffer (e.g. batch-norm running statistics, which a forward pass in training mode updates)."""
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in flags:
            p.requires_grad_(flag)
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the model in eval mode for a ``with`` block (dropout off, batch norm on its running
    statistics) and restore every flag and buffer afterwards, also on error. Every vizlab method
    explains the model as it predicts, whatever mode the student left it in. A model already
    entirely in eval mode needs no copy (on Lite0 the copy costs ~2.5 ms, a tenth of a forward)."""
    if not any(m.training for m in model.modules()):
        yield model
        return
    with preserve_state(model):
        model.eval()
        yield model


@contextlib.contextmanager
def forward_hooks(hooks: Iterable[tuple[nn.Module, ForwardHook]]) -> Iterator[None]:
    """Register ``(module, hook)`` forward hooks for the duration of a ``with`` block.

    The hooks are removed in ``finally``: after the block, whether it returned or raised,
    the modules have no hook of ours left.
    """
    handles = []
    try:
        for module, hook in hooks:
            handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


def check_input(x: torch.Tensor) -> torch.Tensor:
    """Check that ``x`` is a finite float batch ``[N, C, H, W]``; raise a ValueError naming the fix."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor of shape [N, C, H, W], got {type(x).__name__}; "
                         "use vizlab.preprocess(image, model) to turn a photo into one")
    if x.ndim == 3:
        raise ValueError(f"expected a batch [N, C, H, W], got one image {tuple(x.shape)}; "
                         "add the batch dimension with x[None] or x.unsqueeze(0)")
    if x.ndim != 4:
        raise ValueError(f"expected a tensor of shape [N, C, H, W], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"expected a float tensor, got {x.dtype}; use vizlab.preprocess(image, model)")
    if not torch.isfinite(x).all():
        raise ValueError("the input holds NaN or infinite values; check how it was made "
                         "(vizlab.preprocess gives a finite tensor)")
    return x


@dataclass
class Captured:
    """What ``capture`` saw: the logits, each layer's output and (if asked) d score / d output.

    A module called more than once in one forward pass keeps its *last* output in
    ``activations`` and every call in ``all_activations`` (likewise for gradients).
    """

    logits: torch.Tensor
    activations: dict[str, torch.Tensor]
    gradients: dict[str, torch.Tensor] = field(default_factory=dict)
    all_activations: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    all_gradients: dict[str, list[torch.Tensor]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.activations[name]

    def __iter__(self):
        return iter(self.activations)

    def __len__(self) -> int:
        return len(self.activations)


def _recorder(store: list[torch.Tensor]) -> ForwardHook:
    def hook(module, inputs, output):
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"{type(module).__name__} returns {type(output).__name__}, not a tensor; "
                            "pick a layer whose output is a single tensor")
        store.append(output)
        # Pass a copy onwards: an in-place op downstream then changes the copy, not what we stored.
        return output.clone()
    return hook


def capture(model: nn.Module, x: torch.Tensor, layers: Union[str, Sequence[str]],
            target: _targets.Target = None, *, gradients: bool = False) -> Captured:
    """Run ``model(x)`` once and return the outputs of ``layers`` (names from ``vizlab.layers``).

    With ``gradients=True`` also returns ``dS/dA`` for each layer output ``A``, where
    ``S = sum_n target(logits)_n`` (``target=None``: the predicted class of each image).
    Images in a batch do not interact in eval mode, so row ``n`` of the gradient is image ``n``'s.
    The model runs in eval mode (dropout off, batch norm on its running statistics) for the call;
    its ``training`` flags are restored afterwards.
    """
    check_input(x)
    names = [layers] if isinstance(layers, str) else list(layers)
    modules = {name: find_layer(model, name) for name in names}
    stores: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    with eval_mode(model), forward_hooks((modules[n], _recorder(stores[n])) for n in names):
        with torch.set_grad_enabled(gradients):
            inp = x.detach().requires_grad_(True) if gradients else x
            logits = model(inp)
            if not isinstance(logits, torch.Tensor):
                raise TypeError(f"the model returned {type(logits).__name__}; vizlab needs a model "
                                "whose forward returns a logits tensor [N, classes]")
            missing = [n for n in names if not stores[n]]
            if missing:
                raise ValueError(f"layer(s) {missing} were not called in the forward pass; "
                                 "pick layers that the model's forward actually uses")
            grads: dict[str, list[torch.Tensor]] = {}
            if gradients:
                score = _targets.scores(target, logits).sum()
                flat = [a for n in names for a in stores[n]]
                flat_grads = torch.autograd.grad(score, flat, allow_unused=True)
                it = iter(flat_grads)
                for n in names:
                    grads[n] = [torch.zeros_like(a) if g is None else g.detach()
                                for a, g in zip(stores[n], it)]
    acts = {n: [a.detach() for a in stores[n]] for n in names}
    return Captured(
        logits=logits.detach(),
        activations={n: v[-1] for n, v in acts.items()},
        gradients={n: v[-1] for n, v in grads.items()},
        all_activations=acts,
        all_gradients=grads,
    )


__all__ = ["capture", "Captured", "eval_mode", "forward_hooks", "preserve_state", "check_input"]
