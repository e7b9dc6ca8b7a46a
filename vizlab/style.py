"""Neural style transfer: content loss, Gram-matrix style loss, total variation, and the loop.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.
An image ``x`` is optimised so that one layer's features match a *content* photo and the Gram
matrices (channel correlations, blind to layout) of several layers match a *style* image::

    L(x) = alpha * L_content(x) + beta * L_style(x) + w_tv * L_tv(x)

The four losses use the names, arguments and normalisations of CS231n's assignment 3
("StyleTransfer-PyTorch"), so that a student's assignment code can be checked against them:

* ``content_loss(w, F, P)   = w * sum (F - P)^2``
* ``gram_matrix(F)[n] = F_n F_n^T / (C H W)``               (``F_n`` reshaped to ``C x HW``)
* ``style_loss(feats, layers, targets, weights) = sum_l w_l * sum (G_l - A_l)^2``
* ``tv_loss(img, w) = w * (sum (x[i+1, j] - x[i, j])^2 + sum (x[i, j+1] - x[i, j])^2)``

``activation_transform="softmax"`` is SWAG (Wang, Li & Vasconcelos, "Rethinking and Improving
the Robustness of Image Style Transfer", CVPR 2021): each layer's activations are passed through
a softmax over all ``C H W`` entries before the Gram and content losses. Networks with residual
connections have peaky, low-entropy activations that make the Gram loss hard to optimise; the
softmax smooths them. A randomly initialised VGG stylises almost as well as a trained one
(same paper); :func:`random_vgg19` builds one offline.
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Callable, Optional, Sequence, Union

import torch
from torch import nn

from . import models as _models
from .data import SAMPLES, _resize_and_crop, load_image, normalize, sample_image
from .hooks import (check_count, check_generator, check_input, eval_mode, forward_hooks, preserve_state,
                    run_model, unwrap)
from .optvis import param as P
from .optvis.objectives import Objective
from .optvis.render import ascend, make_optimizer

__all__ = ["content_loss", "gram_matrix", "style_loss", "tv_loss", "softmax_activations", "activation_entropy",
           "features", "style_objective", "transfer", "random_vgg19", "judge_network", "JUDGE_LAYERS",
           "default_layers", "to_model_input", "DEFAULT_LAYERS"]

# (content layer, style layers) per architecture. VGG-19: Gatys et al.'s relu4_2 and relu1_1..relu5_1
# (torchvision's vgg19().features indices). Lite0: rectified (ReLU6) activations at five depths, the
# stem and the expansion layers of blocks 1, 3, 5, 8 -- the counterpart of VGG's ReLU outputs.
DEFAULT_LAYERS = {
    "vgg19": ("features.22", ["features.1", "features.6", "features.11", "features.20", "features.29"]),
    "efficientnet_lite0": ("blocks.8.expand", ["stem", "blocks.1.expand", "blocks.3.expand", "blocks.5.expand",
                                               "blocks.8.expand"]),
}


# --------------------------------------------------------------------------------------------
# The four losses (CS231n's names and normalisations)
# --------------------------------------------------------------------------------------------

def content_loss(content_weight: float, content_current: torch.Tensor, content_original: torch.Tensor) -> torch.Tensor:
    """``w_c * sum_{c,i,j} (F_cij - P_cij)^2``: squared distance of the current image's features
    ``F`` to the content photo's features ``P`` at one layer (both ``1 x C x H x W``)."""
    return content_weight * ((content_current - content_original) ** 2).sum()


def gram_matrix(features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """``G[n] = F_n F_n^T`` for features ``N x C x H x W`` (``F_n``: the ``C x HW`` matrix of image n),
    divided by ``C H W`` if ``normalize``. ``G[n]_kl = sum_p F_kp F_lp`` sums over positions ``p``,
    so shuffling the positions leaves it unchanged: it keeps which channels fire together, not where."""
    if not isinstance(features, torch.Tensor) or features.ndim != 4:
        got = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"gram_matrix takes features N x C x H x W (a convolutional layer's output), got {got}")
    n, c, h, w = features.shape
    gram = _Gram.apply(features.reshape(n, c, h * w))
    return gram / (c * h * w) if normalize else gram


class _Gram(torch.autograd.Function):
    """``G = F F^T`` for ``F``: ``N x C x M``, with the gradient of a symmetric product written out:
    ``dL/dF = (dL/dG + dL/dG^T) F`` -- one matrix product, where autograd's generic rule for ``A @ B``
    takes two (``dG B^T`` and ``A^T dG``) through transposed copies of ``F``. The same numbers up to
    rounding, at about half the cost of the backward pass (the Gram matrices are most of what a style
    step adds to the network's own forward and backward)."""

    @staticmethod
    def forward(ctx, f: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(f)
        return f @ f.transpose(1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        f, = ctx.saved_tensors
        return (grad + grad.transpose(1, 2)) @ f


def style_loss(feats: Sequence[torch.Tensor], style_layers: Sequence[int], style_targets: Sequence[torch.Tensor],
               style_weights: Sequence[float]) -> torch.Tensor:
    """``sum_l w_l * sum_{k,k'} (G^l_kk' - A^l_kk')^2`` over the layers ``style_layers`` (indices into
    ``feats``), where ``G^l = gram_matrix(feats[l])`` and ``A^l = style_targets[i]`` is the style image's
    Gram matrix at that layer."""
    if not (len(style_layers) == len(style_targets) == len(style_weights)):
        raise ValueError(f"style_layers, style_targets and style_weights must have one entry per layer; got "
                         f"{len(style_layers)}, {len(style_targets)} and {len(style_weights)}")
    loss = feats[style_layers[0]].new_zeros(())
    for i, layer in enumerate(style_layers):
        loss = loss + style_weights[i] * ((gram_matrix(feats[layer]) - style_targets[i]) ** 2).sum()
    return loss


def tv_loss(img: torch.Tensor, tv_weight: float) -> torch.Tensor:
    """Total variation ``w_t * sum_{c,i,j} [(x_{c,i+1,j} - x_{c,ij})^2 + (x_{c,i,j+1} - x_{c,ij})^2]``:
    the squared differences of vertical and horizontal neighbours (penalises pixel noise)."""
    down = ((img[:, :, 1:, :] - img[:, :, :-1, :]) ** 2).sum()
    right = ((img[:, :, :, 1:] - img[:, :, :, :-1]) ** 2).sum()
    return tv_weight * (down + right)


# --------------------------------------------------------------------------------------------
# SWAG and the activation entropy that explains it
# --------------------------------------------------------------------------------------------

def softmax_activations(features: torch.Tensor) -> torch.Tensor:
    """SWAG (Wang et al. 2021, eq. 5): ``sigma(F)_m = M exp(F_m) / sum_m' exp(F_m')`` over all
    ``M = C H W`` entries of each image's feature map. The factor ``M`` makes the mean entry 1, so
    that the loss weights stay in the range of the raw features; it only rescales the losses
    (the paper's code multiplies the style weight by 1e17 instead)."""
    n = features.shape[0]
    flat = features.reshape(n, -1)
    return (torch.softmax(flat, dim=1) * flat.shape[1]).reshape(features.shape)


def activation_entropy(features: torch.Tensor) -> torch.Tensor:
    """Normalised entropy of each image's activations, in [0, 1]: with ``p_m = |F_m| / sum |F_m'|``
    over the ``M = C H W`` entries, ``H = -sum_m p_m log p_m / log M``. 1: all entries equal; near 0:
    a few entries carry everything (the "peaky" activations of residual networks, Wang et al. 2021).
    A single entry (``M = 1``) carries everything: its entropy is 0."""
    n = features.shape[0]
    a = features.detach().reshape(n, -1).abs().double()
    if a.shape[1] == 1:  # log M = 0: nothing to spread over
        return torch.zeros(n, dtype=features.dtype, device=features.device)
    p = a / a.sum(dim=1, keepdim=True).clamp_min(1e-30)
    h = -(p * torch.log(p.clamp_min(1e-300))).sum(dim=1)
    return (h / math.log(p.shape[1])).to(features.dtype)


def _identity_features(features: torch.Tensor) -> torch.Tensor:
    return features


_TRANSFORMS = {None: _identity_features, "softmax": softmax_activations}


# --------------------------------------------------------------------------------------------
# Models and their inputs
# --------------------------------------------------------------------------------------------

def random_vgg19(seed: int = 0, classifier: bool = True) -> nn.Module:
    """torchvision's VGG-19 (``vgg19(weights=None)``: the architecture, no download) with torchvision's
    initialisation rule -- convolutions ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``,
    linear layers ``normal_(0, 0.01)``, zero biases -- drawn from ``torch.Generator().manual_seed(seed)``.
    Built on the meta device first, so the default initialisation is not run twice (1-2 s instead of
    over 10 s); the global random state is not touched. ``classifier=False`` leaves out the three fully
    connected layers (0.5 GB of weights that style transfer never uses; the convolutions are drawn first,
    so they are the same either way) -- the model then returns the pooled features, not logits."""
    import torchvision
    with torch.device("meta"):
        model = torchvision.models.vgg19(weights=None)
    if not classifier:
        model.classifier = nn.Identity()
    model = model.to_empty(device="cpu")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=g)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01, generator=g)
                nn.init.zeros_(m.bias)
    model.vizlab_info = _models.ModelInfo("vgg19", 224, _models.IMAGENET_MEAN, _models.IMAGENET_STD,
                                          _models.imagenet_categories())
    return model.eval()


JUDGE_LAYERS = ["relu", "layer1", "layer2", "layer3"]


def judge_network(seed: int = 1) -> nn.Module:
    """A judge for stylisation that no loss uses: torchvision's ResNet-18 with random weights from
    ``torch.manual_seed(seed)`` (inside a forked RNG). Random convolutional features are good texture
    descriptors (Ustyuzhaninov et al. 2017); compare with ``style_distance(img, style, judge, JUDGE_LAYERS)``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _models.load("resnet18", pretrained=False)


def default_layers(model: nn.Module) -> tuple:
    """``(content_layer, style_layers)`` for Lite0 and VGG-19 (Gatys et al.'s choice)."""
    name = _models.info(model).name
    if name not in DEFAULT_LAYERS:
        raise ValueError(f"no default style layers for {name!r}; pass content_layer and style_layers "
                         f"(names from vizlab.layers(model)); defaults exist for {', '.join(DEFAULT_LAYERS)}")
    content, styles = DEFAULT_LAYERS[name]
    return content, list(styles)


def to_model_input(pixels: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """Pixels in [0, 1] (``N x 3 x H x W``) -> the normalised input ``(x - mean) / std`` of the model
    (``vizlab.data.normalize``)."""
    return normalize(pixels, model)


class _Stop(Exception):
    """Raised by the last hook once every layer asked for is computed: the rest of the model never runs."""


def _layer_names(layers, what: str = "layers", allow_empty: bool = True) -> list:
    """``layers`` as a list of names: one string is one layer (as ``hooks.layer_list``)."""
    names = [layers] if isinstance(layers, str) else layers
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{what} must be a layer name such as 'layer1' or a list of names "
                        f"(vizlab.layers(model) lists them), got {layers!r}")
    if not names and not allow_empty:
        raise ValueError(f"{what} is empty; pass at least one layer name (vizlab.layers(model) lists them)")
    return list(names)


def features(model: nn.Module, pixels: torch.Tensor, layers: Union[str, Sequence[str]],
             activation_transform: Optional[str] = None) -> list:
    """The outputs of ``layers`` for the image ``pixels`` (in [0, 1]), in the order given, with the
    graph kept (differentiable w.r.t. ``pixels``), each passed through ``activation_transform``.
    As in optvis: hooks on those layers only, the pass stopped once they are computed (the
    classifier head never runs). The model runs in eval mode for the call."""
    transform = _transform(activation_transform)
    names = _layer_names(layers)
    model = _check_model(model)
    pixels = check_input(pixels, model)
    if pixels.shape[1] != 3:
        raise ValueError(f"pixels must be RGB images N x 3 x H x W in [0, 1], got {tuple(pixels.shape)}")
    with eval_mode(model):
        return [transform(f) for f in _features(model, pixels, names)]


def _features(model: nn.Module, pixels: torch.Tensor, names: list) -> list:
    """The outputs of the layers ``names`` for checked ``pixels``, the model already in eval mode:
    one forward pass through ``hooks.run_model``, stopped after the last of them."""
    got: dict = {}

    def record(name):
        def hook(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {name!r} returns {type(output).__name__}, not a tensor; "
                                "pick a layer whose output is a single tensor")
            got[name] = output
            if all(n in got for n in names):
                raise _Stop
            return output.clone()  # a later in-place op (ResNet's ReLU) must not change what we stored
        return hook
    with forward_hooks((_models.find_layer(model, n), record(n)) for n in dict.fromkeys(names)):
        try:
            if names:
                run_model(model, to_model_input(pixels, model))
        except _Stop:
            pass
    missing = [n for n in dict.fromkeys(names) if n not in got]
    if missing:
        raise ValueError(f"layer(s) {missing} were not called in the forward pass; "
                         "pick layers that the model's forward actually uses")
    return [got[n] for n in names]


def _identity(x, generator):
    return x


def _transform(name: Optional[str]):
    if name not in _TRANSFORMS:
        raise ValueError(f"activation_transform must be None or 'softmax', got {name!r}")
    return _TRANSFORMS[name]


def style_objective(content_target: Optional[torch.Tensor], style_targets: Sequence[torch.Tensor],
                    content_layer: Optional[str], style_layers: Sequence[str], content_weight: float,
                    style_weights: Sequence[float], tv_weight: float,
                    activation_transform: Optional[str] = None, record: Optional[dict] = None) -> Objective:
    """The style-transfer loss as an optvis objective (to *maximise*, so it is the negative loss)::

        -(content_loss(w_c, F(x), P) + style_loss(F(x), layers, A, w_s) + tv_loss(x, w_t))

    ``record`` (a dict), if given, receives the float value of each part after every evaluation."""
    transform = _transform(activation_transform)
    idx = list(range(len(style_layers)))

    def fn(acts):
        x = acts["image"]
        zero = x.new_zeros(())
        feats = [transform(acts[n]) for n in style_layers]
        parts = {"style": style_loss(feats, idx, style_targets, style_weights) if idx else zero,
                 "content": content_loss(content_weight, transform(acts[content_layer]), content_target)
                 if content_layer is not None else zero,
                 "tv": tv_loss(x, tv_weight)}
        loss = parts["style"] + parts["content"] + parts["tv"]
        if record is not None:
            record.update({k: float(v.detach()) for k, v in parts.items()}, loss=float(loss.detach()))
        return -loss.reshape(1)
    layers = list(style_layers) + ([content_layer] if content_layer is not None else [])
    return Objective(fn, "style transfer", layers=layers)


def _image_param(content: torch.Tensor, init: str, generator: torch.Generator):
    if init == "content":
        return P.pixels(content.shape[-2], init=content, valid="clip")
    if init == "noise":
        return P.pixels(content.shape[-2], content.shape[-1], sd=0.25, valid="clip", generator=generator,
                        device=content.device, dtype=content.dtype)
    raise ValueError(f"init must be 'content' or 'noise', got {init!r}")


def _model_first(name: str, model, a, b):
    """``(model, a, b)`` from a call in either order: these functions took the model last before they took it
    first, like every other vizlab function; the old order still works, with a DeprecationWarning."""
    if isinstance(b, nn.Module) and not isinstance(model, nn.Module):
        warnings.warn(f"style.{name} takes the model first, like every vizlab function: {name}(model, ...)",
                      DeprecationWarning, stacklevel=3)
        return b, model, a
    return model, a, b


def transfer(model: nn.Module, content: torch.Tensor, style: torch.Tensor,
             content_layer: Optional[str] = None, style_layers: Optional[Sequence[str]] = None,
             style_weights: Union[float, Sequence[float]] = 10.0, tv_weight: float = 1e-3, steps: int = 100, *,
             content_weight: float = 1.0, relative: bool = True, optimizer: str = "lbfgs",
             lr: Optional[float] = None, init: str = "content", activation_transform: Optional[str] = None,
             generator: Optional[torch.Generator] = None,
             progress: Union[bool, Callable[[int, int], None]] = True):
    """Gatys et al.'s style transfer: minimise over the pixels ``x`` (in [0, 1])

        content_loss(content_weight, F(x), F(content)) + style_loss(...) + tv_loss(x, tv_weight)

    ``content`` and ``style``: pixel tensors ``1 x 3 x H x W`` in [0, 1] (sizes may differ).
    ``content_layer`` / ``style_layers`` default to ``default_layers(model)``; explicit
    ``style_layers`` with ``content_layer=None`` is texture synthesis, ``style_layers=[]`` with a
    ``content_layer`` is content reconstruction.
    ``style_weights``: one weight per style layer, or one number for all.
    ``relative=True`` divides each layer's weight by the squared norm of its target (``sum A_l^2``,
    ``sum P^2``): every term then starts near 1 whatever the network's activation scale, so the same
    weights (alpha/beta) mean the same on Lite0, Lite0 + SWAG and VGG-19. ``relative=False``: the raw
    CS231n sums.
    The targets (content features, style Gram matrices) are computed once, before the loop.
    ``optimizer="lbfgs"``: one L-BFGS iteration (one forward and backward) per step, as Gatys et al.;
    ``"adam"`` (lr 0.02); either runs ``vizlab.optvis.render``'s loop (``ascend``). After each step the pixels are clamped
    to [0, 1] (``optvis.param.pixels(valid="clip")``). ``init="content"`` starts from the content
    photo, ``"noise"`` from grey plus noise drawn from ``generator``.
    Returns ``(image, history)``: the image ``1 x 3 x H x W`` in [0, 1] and a dict of per-step
    lists ``"loss", "content", "style", "tv"`` (the losses before each step's update).
    The model is left exactly as found (flags, ``requires_grad``, weights, no ``.grad``, no hooks).
    ``transfer(content, style, model, ...)``, the order before the model came first, still works (deprecated).
    """
    model, content, style = _model_first("transfer", model, content, style)
    model = _check_model(model)
    content = _check_pixels(content, "content", model)
    style = _check_pixels(style, "style", model)
    transform = _transform(activation_transform)
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    if init not in ("content", "noise"):
        raise ValueError(f"init must be 'content' or 'noise', got {init!r}")
    steps = check_count("steps", steps)
    lr = None if lr is None else _positive(lr, "lr")
    generator = check_generator(generator)
    if content_layer is None and style_layers is None:
        content_layer, style_layers = default_layers(model)
    if content_layer is not None and not isinstance(content_layer, str):
        raise TypeError(f"content_layer must be one layer name such as 'layer3' (or None), got {content_layer!r}")
    style_layers = _layer_names([] if style_layers is None else style_layers, "style_layers")
    if isinstance(style_weights, numbers.Real) and not isinstance(style_weights, bool):
        style_weights = [float(style_weights)] * len(style_layers)
    style_weights = [_finite(w, "style_weights") for w in style_weights]
    if len(style_weights) != len(style_layers):
        raise ValueError(f"{len(style_layers)} style layers but {len(style_weights)} style weights")
    tv_weight, content_weight = _finite(tv_weight, "tv_weight"), _finite(content_weight, "content_weight")
    if content_layer is None and not style_layers:
        raise ValueError("give a content_layer, style_layers or both")
    history: dict = {"loss": [], "content": [], "style": [], "tv": []}
    record: dict = {}
    # gradients for the pixels whatever the caller's mode (torch.no_grad(), torch.inference_mode());
    # the model in eval mode once for the whole call, its flags and requires_grad restored afterwards
    with preserve_state(model), eval_mode(model), torch.inference_mode(False), torch.enable_grad():
        for p in model.parameters():
            p.requires_grad_(False)  # gradients for the pixels only: cheaper, and no parameter .grad
        with torch.no_grad():  # the targets, once
            style_targets = _grams(model, style, style_layers, transform)
            content_target = (transform(_features(model, content, [content_layer])[0])
                              if content_layer is not None else None)
        if relative:
            style_weights = [w / _energy(a, f"the style image's Gram matrix at style layer {n!r}")
                             for w, a, n in zip(style_weights, style_targets, style_layers)]
            if content_target is not None:
                content_weight = content_weight / _energy(content_target,
                                                          f"the content photo's features at layer {content_layer!r}")
        objective = style_objective(content_target, style_targets, content_layer, style_layers, content_weight,
                                    style_weights, tv_weight, activation_transform, record)
        image = _image_param(content, init, generator)
        opt = make_optimizer(optimizer, image.parameters(), lr or (1.0 if optimizer == "lbfgs" else 0.02))

        def log(i, param):
            for key in history:
                history[key].append(record[key])
        out, _ = ascend(model, objective, image, opt, _identity, steps, generator, progress, log)
    return out.clamp(0, 1), history


def _grams(model: nn.Module, pixels: torch.Tensor, layers: list, transform) -> list:
    """The Gram matrix of each style layer's (transformed) features; a layer without spatial features is refused."""
    feats = [transform(f) for f in _features(model, pixels, layers)]
    for name, f in zip(layers, feats):
        if f.ndim != 4:
            raise ValueError(f"style layer {name!r} outputs {tuple(f.shape)}, not features N x C x H x W; a Gram "
                             "matrix needs a convolutional layer (pick one from vizlab.layers(model))")
    return [gram_matrix(f) for f in feats]


def _energy(t: torch.Tensor, what: str, why: str = "relative=True cannot scale its weight",
            fix: str = "or pass relative=False") -> float:
    """``sum t^2``, the divisor of a relative weight; all-zero targets are refused (dividing by ~0 would
    make that term ~1e29 times too heavy)."""
    e = float((t ** 2).sum())
    if not e > 1e-30:
        raise ValueError(f"{what} is all zero (every feature there is 0 for this image), so {why}; "
                         f"pick another layer or image{', ' + fix if fix else ''}")
    return e


def _finite(value, name: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype == torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number (or one per style layer for style_weights), got {value!r}")
    return float(value)


def _positive(value, name: str) -> float:
    value = _finite(value, name)
    if not value > 0:
        raise ValueError(f"{name} must be > 0 (the optimiser's step size), got {value}")
    return value


def _check_model(model) -> nn.Module:
    """The module to work on: a ``torch.compile``d model's original module (``hooks.unwrap``)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module as the model, got {type(model).__name__}"
                        + ("; load it first: vizlab.load(name)" if isinstance(model, str) else ""))
    return unwrap(model)


def _check_pixels(x: torch.Tensor, what: str, model: nn.Module) -> torch.Tensor:
    """``x`` as one finite float image of pixels ``1 x 3 x H x W`` in [0, 1] that fits ``model``;
    returns the tensor to use (a copy if it was made under ``torch.inference_mode()``)."""
    _check_model(model)
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[:2] != (1, 3):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} must be one image as pixels 1 x 3 x H x W in [0, 1], got {shape}; "
                         "make one with vizlab.style.pixels(vizlab.sample_image(name), size)")
    if not x.is_floating_point():
        raise ValueError(f"{what} must hold float pixels in [0, 1], got {x.dtype}; use vizlab.style.pixels(image, size)")
    try:
        x = check_input(x, model)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError(f"{what} must hold float pixels in [0, 1] (not a normalised model input); "
                         "use vizlab.style.pixels(image, size)")
    return x


def pixels(image, size: int) -> torch.Tensor:
    """A photo (a sample's name, a path, PIL image or numpy array) -> pixels ``1 x 3 x size x size``
    in [0, 1] (short side resized to ``size``, centre crop)."""
    import numpy as np
    img = sample_image(image) if isinstance(image, str) and image in SAMPLES else load_image(image)
    arr = np.asarray(_resize_and_crop(img, size), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous()


__all__.append("pixels")


def style_distance(model: nn.Module, image: torch.Tensor, style: torch.Tensor,
                   layers: Union[str, Sequence[str]]) -> float:
    """A judge of stylisation: the mean over ``layers`` of ``||G(image) - G(style)||_F / ||G(style)||_F``
    (Gram matrices of ``model``'s features; ``image`` and ``style`` one image each, pixels
    ``1 x 3 x H x W`` in [0, 1], as for ``transfer``). Use a network or layers the optimiser did not
    see, so that the judge cannot be gamed by the loss it judges. (The old order ``style_distance(image, style,
    model, layers)`` still works, deprecated.)"""
    model, image, style = _model_first("style_distance", model, image, style)
    model = _check_model(model)
    image = _check_pixels(image, "image", model)
    style = _check_pixels(style, "style", model)
    layers = _layer_names(layers, "layers", allow_empty=False)
    with eval_mode(model), torch.no_grad():
        ga = _grams(model, image, layers, _identity_features)
        gb = _grams(model, style, layers, _identity_features)
    for name, b in zip(layers, gb):
        _energy(b, f"the style image's Gram matrix at layer {name!r}", "the distance relative to it is undefined", "")
    ratios = [float((a - b).norm() / b.norm().clamp_min(1e-30)) for a, b in zip(ga, gb)]
    return sum(ratios) / len(ratios)


__all__.append("style_distance")
