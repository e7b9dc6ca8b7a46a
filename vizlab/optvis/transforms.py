"""Transformation robustness: small random changes to the image before every step.

An image that excites a channel only at one exact pixel alignment is a fragile, high-frequency
pattern; asking it to keep working under jitter, scaling and rotation favours shapes the network
really responds to (Mordvintsev et al. 2015, "Inceptionism"; Olah et al. 2017).

Every transform is a callable ``t(x, generator) -> x`` on a batch ``N x 3 x H x W``, written in
plain torch so gradients flow through it, and every random draw comes from the
``torch.Generator`` passed in (never from global state): the same generator gives the same images.
``generator=None`` means a fresh ``torch.Generator().manual_seed(0)`` (``compose`` makes one and
shares it), so a call without a generator is deterministic and leaves the global RNG alone.
The whole batch shares one draw per step (as in Lucid), so a batch of N costs one call.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from ..hooks import check_count, check_generator




def _choice(options: Sequence, generator: Optional[torch.Generator]):
    return options[int(torch.randint(len(options), (1,), generator=check_generator(generator)))]


def _number(name: str, value, minimum: Optional[float] = None, above: bool = False) -> float:
    """A finite real number (>= ``minimum``, or > it with ``above``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if above else value < minimum):
        raise ValueError(f"{name} must be {'>' if above else '>='} {minimum}, got {value}")
    return float(value)


def _numbers(name: str, values, example: str, minimum: Optional[float] = None) -> list:
    """A non-empty list of finite numbers (each > ``minimum`` if given)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of numbers such as {example}, got {type(values).__name__}")
    values = list(values)
    if not values:
        raise ValueError(f"{name} needs at least one value to draw from, e.g. {example}")
    return [_number(f"each of {name}", v, minimum, above=True) for v in values]


class Transform:
    """Base class: a readable ``repr`` and ``t(x, generator)``."""

    def __call__(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__.lower()}({args})"


class pad(Transform):
    """Pad every side by ``width`` pixels (``mode="constant"`` with ``value``, or ``"reflect"``),
    so that jitter and rotation do not always cut off the same border."""

    MODES = ("constant", "reflect", "replicate", "circular")

    def __init__(self, width: int, mode: str = "constant", value: float = 0.5):
        if mode not in self.MODES:
            raise ValueError(f"pad's mode must be one of {', '.join(map(repr, self.MODES))}, got {mode!r}")
        self.width, self.mode, self.value = check_count("pad width", width, 0), mode, _number("pad value", value)

    def __call__(self, x, generator=None):
        if self.mode == "reflect" and self.width >= min(x.shape[-2:]):
            raise ValueError(f"pad({self.width}, mode='reflect') needs an image larger than {self.width} px; "
                             f"this one is {x.shape[-2]} x {x.shape[-1]}: use a smaller width or mode='constant'")
        p = [self.width] * 4
        return F.pad(x, p, mode=self.mode, value=self.value) if self.mode == "constant" else F.pad(x, p, mode=self.mode)


class jitter(Transform):
    """Shift by a random ``0 <= dx, dy < d`` pixels: crop ``x[..., dy:H-d+1+dy, dx:W-d+1+dx]``
    (Lucid's jitter; the image shrinks by ``d - 1`` pixels)."""

    def __init__(self, d: int):
        if isinstance(d, (int, float)) and not isinstance(d, bool) and d < 1:
            raise ValueError(f"jitter needs d >= 1, got {d}")
        self.d = check_count("jitter's d (the largest shift in pixels)", d, 1)

    def __call__(self, x, generator=None):
        h, w = x.shape[-2:]
        if self.d > min(h, w):
            raise ValueError(f"jitter({self.d}) crops {self.d - 1} pixels off an image of {h} x {w} "
                             "(after the transforms before it): use a smaller d, e.g. standard(size / 224), "
                             "or a larger image")
        dx, dy = (int(v) for v in torch.randint(self.d, (2,), generator=check_generator(generator)))
        return shift_crop(x, self.d, dx, dy)


def shift_crop(x: torch.Tensor, d: int, dx: int, dy: int) -> torch.Tensor:
    """The ``(H - d + 1) x (W - d + 1)`` crop of ``x`` whose top-left corner is row ``dy``, column ``dx``."""
    h, w = x.shape[-2:]
    return x[..., dy:h - d + 1 + dy, dx:w - d + 1 + dx]


class random_scale(Transform):
    """Resize by a factor drawn from ``scales`` (bilinear)."""

    def __init__(self, scales: Sequence[float]):
        self.scales = _numbers("random_scale's scales", scales, "[0.95, 1.0, 1.05]", minimum=0)

    def __call__(self, x, generator=None):
        s = _choice(self.scales, generator)
        if s == 1.0:
            return x
        h, w = x.shape[-2:]
        size = (max(1, round(h * s)), max(1, round(w * s)))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def rotate(x: torch.Tensor, degrees: float, fill: float = 0.5) -> torch.Tensor:
    """Rotate about the centre by ``degrees`` (bilinear; corners filled with ``fill``)."""
    if degrees == 0:
        return x
    a = math.radians(degrees)
    n, c, h, w = x.shape
    theta = torch.tensor([[math.cos(a), -math.sin(a) * h / w, 0.0],
                          [math.sin(a) * w / h, math.cos(a), 0.0]], device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta.expand(n, 2, 3), [n, c, h, w], align_corners=False)
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


class random_rotate(Transform):
    """Rotate by an angle (degrees) drawn from ``angles``."""

    def __init__(self, angles: Sequence[float], fill: float = 0.5):
        self.angles = _numbers("random_rotate's angles", angles, "[-10, 0, 10] (degrees)")
        self.fill = _number("random_rotate's fill", fill)

    def __call__(self, x, generator=None):
        return rotate(x, _choice(self.angles, generator), self.fill)


def gaussian_kernel(sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """1-D Gaussian ``k[i] ~ exp(-i^2 / (2 sigma^2))`` for ``|i| <= ceil(3 sigma)``, summing to 1."""
    r = max(1, math.ceil(3 * sigma))
    i = torch.arange(-r, r + 1, device=device, dtype=dtype)
    k = torch.exp(-i * i / (2 * sigma * sigma))
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of each channel (reflect padding keeps the border's brightness)."""
    sigma = _number("blur's sigma (in pixels)", sigma)
    if sigma <= 0:
        return x
    k = gaussian_kernel(sigma, x.device, x.dtype)
    r, c = len(k) // 2, x.shape[1]
    x = F.pad(x, [r, r, 0, 0], mode="reflect" if x.shape[-1] > r else "replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.pad(x, [0, 0, r, r], mode="reflect" if x.shape[-2] > r else "replicate")
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


class blur(Transform):
    """Gaussian blur with standard deviation ``sigma`` pixels (deterministic)."""

    def __init__(self, sigma: float):
        self.sigma = _number("blur's sigma (in pixels)", sigma, 0)

    def __call__(self, x, generator=None):
        return gaussian_blur(x, self.sigma)


class resize(Transform):
    """Resize to ``size x size`` (bilinear), e.g. last in a list so the model always sees one size."""

    def __init__(self, size: int):
        self.size = check_count("resize's size", size, 1)

    def __call__(self, x, generator=None):
        if x.shape[-2:] == (self.size, self.size):
            return x
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)


class compose(Transform):
    """Apply transforms in order: ``compose([pad(4), jitter(8)])(x, g)``."""

    def __init__(self, transforms: Sequence):
        self.transforms = as_list(transforms)

    def __call__(self, x, generator=None):
        generator = check_generator(generator)  # one generator for the whole chain
        for t in self.transforms:
            x = t(x, generator)
        return x

    def __repr__(self) -> str:
        return f"compose({self.transforms!r})"


def as_list(transforms) -> list:
    """``transforms`` as a list of callables ``t(x, generator)``, refusing what is not one."""
    if isinstance(transforms, str) or not isinstance(transforms, (list, tuple)):
        raise TypeError(f"transforms must be a list of transforms such as [pad(4), jitter(8)] (or "
                        f"transforms.standard(), or [] for none), got {type(transforms).__name__} {transforms!r}")
    for i, t in enumerate(transforms):
        if not callable(t):
            raise TypeError(f"transforms[{i}] is {type(t).__name__} {t!r}, not a transform t(x, generator); "
                            "make one with vizlab.optvis.transforms, e.g. jitter(8)")
    return list(transforms)


def standard(scale: float = 1.0) -> list:
    """Lucent's ``standard_transforms`` (for 224 px images; ``scale`` shrinks pixel sizes for smaller ones)."""
    scale = _number("standard's scale", scale, 0, above=True)
    s = lambda v: max(1, round(v * scale))
    return [pad(s(12), value=0.5), jitter(s(8)), random_scale([1 + (i - 5) / 50.0 for i in range(11)]),
            random_rotate(list(range(-10, 11)) + 5 * [0]), jitter(s(4))]


__all__ = ["Transform", "pad", "jitter", "shift_crop", "random_scale", "random_rotate", "rotate", "blur",
           "gaussian_blur", "gaussian_kernel", "resize", "compose", "standard", "as_list"]
