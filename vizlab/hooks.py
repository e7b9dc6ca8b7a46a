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

Hooks and ``training`` flags live on modules that every thread shares, so each entry point holds
the model's re-entrant lock (``model_lock``) while it changes them and runs the model: two threads
explaining one model take turns; threads explaining different models run in parallel.
"""
from __future__ import annotations

import contextlib
import re
import threading
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from . import targets as _targets
from .lookup import find_layer

ForwardHook = Callable[[nn.Module, tuple, torch.Tensor], Union[torch.Tensor, None]]


# --------------------------------------------------------------------------------------------
# One lock per model: hooks and flags live on shared modules
# --------------------------------------------------------------------------------------------

_LOCKS: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The re-entrant lock of ``model``. Hooks and ``training`` flags live on the model's modules,
    which every thread shares: two threads explaining one model at once would run each other's
    hooks. Every vizlab entry point holds this lock while it changes hooks or flags and runs the
    model; calls on *different* models take different locks and still run in parallel."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


@contextlib.contextmanager
def preserve_state(model: nn.Module) -> Iterator[nn.Module]:
    """Restore every module's ``training`` flag, every parameter's ``requires_grad`` and every
    buffer (e.g. batch-norm running statistics, which a forward pass in training mode updates).
    Holds ``model_lock(model)`` for the block."""
    with model_lock(model), _preserved(model):
        yield model


@contextlib.contextmanager
def _preserved(model: nn.Module) -> Iterator[nn.Module]:
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
    entirely in eval mode needs no copy (on Lite0 the copy costs ~2.5 ms, a tenth of a forward).
    Holds ``model_lock(model)`` for the block, so no other thread changes hooks or flags meanwhile."""
    with model_lock(model):
        if not any(m.training for m in model.modules()):
            yield model
            return
        with _preserved(model):
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


def _first(model: nn.Module, kind) -> Union[torch.Tensor, nn.Module, None]:
    for m in model.modules():
        if isinstance(m, kind):
            return m
    return None


def model_dtype(model: nn.Module) -> Optional[torch.dtype]:
    """The dtype of the model's first floating-point parameter (None if it has none)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def check_input(x: torch.Tensor, model: Optional[nn.Module] = None) -> torch.Tensor:
    """Check that ``x`` is a finite float batch ``[N, C, H, W]`` (that fits ``model``, if given);
    raise a ValueError naming the fix. Returns the tensor to use: a tensor made under
    ``torch.inference_mode()`` cannot take part in autograd, so it is copied into a normal one."""
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
    if 0 in x.shape:
        raise ValueError(f"the input {tuple(x.shape)} is empty; it needs at least one image of at least 1 x 1 pixel")
    if x.device.type != "meta" and not torch.isfinite(x).all():
        raise ValueError("the input holds NaN or infinite values; check how it was made "
                         "(vizlab.preprocess gives a finite tensor)")
    if model is not None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"expected a torch.nn.Module as the model, got {type(model).__name__}"
                            + ("; load it first: vizlab.load(name)" if isinstance(model, str) else ""))
        dtype = model_dtype(model)
        if dtype is not None and x.dtype != dtype:
            cast = {torch.float32: ".float()", torch.float64: ".double()", torch.float16: ".half()",
                    torch.bfloat16: ".bfloat16()"}.get(dtype, f".to({dtype})")
            raise ValueError(f"the input is {x.dtype} but the model's weights are {dtype}"
                             + (" (float64 is numpy's default)" if x.dtype == torch.float64 else "")
                             + f"; convert the input with x{cast}")
        conv = _first(model, nn.Conv2d)
        if conv is not None and conv.in_channels != x.shape[1] and not any(  # other mismatches: run_model
                m.in_channels == x.shape[1] for m in model.modules() if isinstance(m, nn.Conv2d)):
            raise ValueError(f"the input has {x.shape[1]} channel(s) but the model's first convolution takes "
                             f"{conv.in_channels}; use vizlab.preprocess(image, model) "
                             "(it makes RGB images) or a model for this many channels")
    if x.is_inference():
        with torch.inference_mode(False):
            x = x.clone()
    return x


def check_generator(generator: Optional[torch.Generator]) -> torch.Generator:
    """The one meaning of ``generator=`` in vizlab: the ``torch.Generator`` given, or for ``None`` a fresh one seeded
    with 0 -- so a call without a generator gives the same result every time and never draws from (or advances)
    the global random state that ``torch.manual_seed`` sets."""
    if generator is None:
        return torch.Generator().manual_seed(0)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)) or None, "
                        f"got {type(generator).__name__} {generator!r}")
    return generator


def progress_reporter(progress, desc: str = "") -> Optional[Callable[[int, int], None]]:
    """The one meaning of ``progress=`` in vizlab: ``None``/``False`` -- silent; ``True`` -- a tqdm progress bar;
    a callable ``progress(done, total)`` -- called as the work advances (an explorer shows it). Returns a
    ``report(done, total)`` function, or ``None`` for silence."""
    if progress is None or progress is False:
        return None
    if callable(progress):
        return progress
    if progress is not True:
        raise TypeError(f"progress must be True (a progress bar), False/None (silent) or a function "
                        f"progress(done, total), got {type(progress).__name__} {progress!r}")
    from tqdm.auto import tqdm  # deferred: tqdm.auto imports ipywidgets' notebook bar when it is available
    bar = None

    def report(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc[:40], leave=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
    return report


def check_count(name: str, value, minimum: int = 1) -> int:
    """A count option (batch size, steps, samples, k) must be an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def unwrap(model: nn.Module) -> nn.Module:
    """The module itself for a ``torch.compile``d model: hooks added to a compiled model after
    compilation are not seen by the compiled code, so vizlab works on the original module
    (``model._orig_mod``; same weights, same layer names without the ``_orig_mod.`` prefix)."""
    inner = getattr(model, "_orig_mod", None)
    return inner if isinstance(inner, nn.Module) else model


# What torch says when a model cannot take an input of this size or channel count (conv, linear, pooling,
# padding, reshapes of the flattened features); any other error is the model's own and passes unchanged.
_SHAPE_ERRORS = re.compile("|".join([
    r"expected input\[.*\] to have \d+ channels",         # conv: channels
    r"expected .*\d+.* channels",                         # other channel checks
    r"mat1 and mat2 shapes cannot be multiplied",         # linear: flattened size
    r"output size is too small",                          # pooling below 1 x 1
    r"kernel size can't be greater than actual input size",
    r"smaller than kernel size",
    r"padding size should be less than the corresponding input dimension",
    r"must match the size of tensor b",                   # e.g. a skip connection or position embedding
    r"is invalid for input of size",                      # view/reshape of the flattened features
    r"don't multiply up to the size of dim",              # unflatten
    r"expected \d+d \(unbatched\) or \d+d \(batched\) input",
]), re.IGNORECASE)


def _about_the_input(err: RuntimeError) -> bool:
    return bool(_SHAPE_ERRORS.search(str(err)))


def run_model(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)``, with an error that says what went wrong if the model cannot take ``x`` (e.g.
    an image too small for its pooling layers, or the wrong number of channels) or does not return
    a logits tensor. Only errors about the input's size or channels are translated (the original
    is chained as ``__cause__``); any other error raised inside the model's forward -- a bug in the
    student's model, say -- passes through unchanged."""
    try:
        out = model(x)
    except RuntimeError as err:
        if not _about_the_input(err):
            raise
        size = getattr(getattr(model, "vizlab_info", None), "input_size", None)
        made = f" It was made for inputs [N, C, {size}, {size}]." if size else ""
        first = str(err).strip().splitlines()[0]
        raise ValueError(f"{type(model).__name__} cannot run on an input of shape {tuple(x.shape)} "
                         f"({first}).{made} Check the image size and channels "
                         "(vizlab.preprocess(image, model) makes the size the model expects).") from err
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the model returned {type(out).__name__}; vizlab needs a model whose forward "
                        "returns a logits tensor [N, classes] (wrap it, e.g. lambda x: model(x)['logits'], "
                        "in an nn.Module)")
    return out


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


def layer_list(layers) -> list:
    """``layers`` as a list of names (or modules), refusing what cannot name a layer."""
    names = [layers] if isinstance(layers, (str, nn.Module)) else layers
    if not isinstance(names, (list, tuple)):
        raise TypeError(f"a layer is named by a string such as 'layer4' (or a module, or a list of those), got {type(layers).__name__} "
                        f"{layers!r}; vizlab.layers(model) lists the names")
    if not names:
        raise ValueError("no layer given; pass a name such as 'layer4' (vizlab.layers(model) lists them)")
    for n in names:
        if not isinstance(n, (str, nn.Module)):
            raise TypeError(f"a layer is named by a string such as 'layer4', got {type(n).__name__} {n!r}; "
                            "vizlab.layers(model) lists the names")
    return list(names)


def capture(model: nn.Module, x: torch.Tensor, layers: Union[str, Sequence[str]], *args,
            target: _targets.Target = None, gradients: bool = False) -> Captured:
    """Run ``model(x)`` once and return the outputs of ``layers`` (names from ``vizlab.layers``).

    ``target`` is keyword-only (``capture(model, x, layers, target=...)``): the methods take
    ``(model, x, target, layer)``, and a positional fourth argument here would read the other way round.
    A positional target still works, with a ``DeprecationWarning``.

    With ``gradients=True`` also returns ``dS/dA`` for each layer output ``A``, where
    ``S = sum_n target(logits)_n`` (``target=None``: the predicted class of each image).
    Images in a batch do not interact in eval mode, so row ``n`` of the gradient is image ``n``'s.
    The model runs in eval mode (dropout off, batch norm on its running statistics) for the call;
    its ``training`` flags are restored afterwards.
    """
    if args:
        if len(args) > 1 or target is not None:
            raise TypeError("capture(model, x, layers, *, target=None, gradients=False) takes one target")
        warnings.warn("pass capture's target by keyword: capture(model, x, layers, target=...)",
                      DeprecationWarning, stacklevel=2)
        target = args[0]
    model = unwrap(model)
    x = check_input(x, model)
    names = layer_list(layers)
    target = _targets.resolve(target, model)
    modules = {name: find_layer(model, name) for name in names}
    stores: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    with eval_mode(model), forward_hooks((modules[n], _recorder(stores[n])) for n in names), \
            torch.inference_mode(False):
        with torch.set_grad_enabled(gradients):
            inp = x.detach().requires_grad_(True) if gradients else x
            logits = run_model(model, inp)
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


__all__ = ["capture", "Captured", "eval_mode", "forward_hooks", "preserve_state", "check_input", "check_count",
           "check_generator", "progress_reporter", "model_lock", "model_dtype", "run_model", "unwrap", "layer_list"]
