"""Feature maps, first-layer filters and the statistics of activations.

The simplest way to look inside a CNN is to look at what it computes: the output of a layer is a
stack of 2-D maps, one per channel, each a "detector" applied everywhere in the image
(Zeiler & Fergus 2014; Chollet, *Deep Learning with Python*, 5.4.1).
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Union

import torch
from torch import nn

from .hooks import capture
from .models import find_layer

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Hardswish, nn.Sigmoid, nn.Tanh)


def feature_maps(model: nn.Module, x: torch.Tensor, layers: Union[str, Sequence[str]]) -> dict[str, torch.Tensor]:
    """``{layer name: output}`` for each named layer (one forward pass, no gradients)."""
    return dict(capture(model, x, layers).activations)


def activation_layers(model: nn.Module) -> list[str]:
    """Names of the activation modules (ReLU, ReLU6, ...) in definition order: where to measure
    sparsity, since only after the non-linearity can a unit be exactly "off"."""
    return [name for name, m in model.named_modules() if name and isinstance(m, ACTIVATIONS)]


def first_conv(model: nn.Module, name: Optional[str] = None) -> nn.Conv2d:
    """The first ``nn.Conv2d`` of the model (or the one called ``name``)."""
    if name is not None:
        layer = find_layer(model, name)
        if not isinstance(layer, nn.Conv2d):
            raise ValueError(f"{name!r} is a {type(layer).__name__}, not a Conv2d")
        return layer
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m
    raise ValueError(f"{type(model).__name__} has no nn.Conv2d layer")


def first_layer_filters(model: nn.Module, name: Optional[str] = None) -> torch.Tensor:
    """The first convolution's weights ``[C_out, 3, k, k]``, each filter min-max scaled to [0, 1]
    so it can be shown as a small RGB picture (what colour/edge pattern it responds to)."""
    w = first_conv(model, name).weight.detach().clone()
    lo = w.amin(dim=(1, 2, 3), keepdim=True)
    hi = w.amax(dim=(1, 2, 3), keepdim=True)
    return (w - lo) / (hi - lo).clamp_min(1e-12)


def sparsity(maps: torch.Tensor, threshold: float = 0.0) -> float:
    """Fraction of activations that are "off": ``mean(|a| <= threshold)``. After a ReLU the
    zeros are exact, so ``threshold=0`` counts the units the ReLU switched off."""
    return float((maps.abs() <= threshold).float().mean())


def channel_stats(maps: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-channel mean, max and sparsity of ``[N, C, H, W]`` (averaged over the batch)."""
    if maps.ndim != 4:
        raise ValueError(f"expected [N, C, H, W], got {tuple(maps.shape)}")
    return {"mean": maps.mean(dim=(0, 2, 3)), "max": maps.amax(dim=(0, 2, 3)),
            "sparsity": (maps == 0).float().mean(dim=(0, 2, 3))}


def image_similarity(maps: torch.Tensor, image: torch.Tensor) -> float:
    """How much a layer still "looks like" the photo: the largest |Pearson correlation| between
    any channel and the image's brightness (averaged down to the map's resolution). Near 1 in the
    first layer; smaller deep in the network, where maps encode *what* rather than *how it looks*."""
    gray = nn.functional.adaptive_avg_pool2d(image[:1].mean(1, keepdim=True), maps.shape[-2:]).flatten()
    flat = maps[0].flatten(1)
    gray = gray - gray.mean()
    flat = flat - flat.mean(1, keepdim=True)
    corr = (flat @ gray) / (flat.norm(dim=1) * gray.norm()).clamp_min(1e-12)
    return float(corr.abs().max())


def pooled_similarity(maps_a: torch.Tensor, maps_b: torch.Tensor) -> float:
    """Cosine similarity of two images' layer outputs after global average pooling (one number
    per channel: *which* detectors fired, not *where*). Comparing a photo with an altered copy of
    itself and with a different photo shows how much a layer knows about content vs appearance."""
    a, b = maps_a.flatten(2).mean(2), maps_b.flatten(2).mean(2)
    return float(nn.functional.cosine_similarity(a, b).mean())


class LayerStats(NamedTuple):
    depth: int
    name: str
    shape: tuple
    sparsity: float
    mean: float
    image_similarity: float


def layer_statistics(model: nn.Module, x: torch.Tensor, layers: Optional[Sequence[str]] = None) -> list[LayerStats]:
    """Sparsity, mean activation and image similarity of each layer (default: every activation
    module), in order of depth -- the numbers behind "deeper layers are sparser and more abstract"."""
    names = list(layers) if layers is not None else activation_layers(model)
    maps = capture(model, x, names).activations
    return [LayerStats(i, n, tuple(maps[n].shape), sparsity(maps[n]), float(maps[n].mean()),
                       image_similarity(maps[n], x) if maps[n].ndim == 4 else float("nan"))
            for i, n in enumerate(names)]


__all__ = ["feature_maps", "activation_layers", "first_conv", "first_layer_filters", "sparsity", "channel_stats",
           "image_similarity", "pooled_similarity", "layer_statistics", "LayerStats"]
