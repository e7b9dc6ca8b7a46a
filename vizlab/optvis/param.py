"""How the image is represented: the parameters the optimiser changes, and the map to pixels.

Every parameterisation is an ``ImageParam``: ``p.parameters()`` are the leaf tensors an
optimiser updates and ``p()`` is the image, ``N x 3 x H x W`` with values in [0, 1]. Three
choices stack (Olah et al., "Feature Visualization", Distill 2017; Lucid/Lucent):

1. **Space** -- ``pixels``: one number per pixel; ``fft``: the real 2-D Fourier spectrum ``S``,
   scaled by ``1/f`` so that every frequency band starts with the same energy as in a natural
   photo::

       z = irfft2(S * scale) / 4,     scale(f) = 1 / max(f, 1 / max(H, W)) ** decay_power

   (``norm="ortho"``; ``f`` in cycles per pixel; the ``/ 4`` is Lucid's constant.) A gradient
   step then moves all frequencies equally fast instead of favouring the fine ones.
2. **Colour** -- ``decorrelate=True`` multiplies each pixel's 3-vector by Lucid's square root
   of the ImageNet colour covariance, ``c = C z`` with ``C = COLOR_CORRELATION / max column norm``:
   steps are taken in a decorrelated colour space, so brightness and hue move separately.
3. **Valid range** -- ``valid="sigmoid"``: ``x = sigmoid(c)``, always in (0, 1);
   ``valid="clip"``: ``x = c`` and ``project()`` clamps the parameters to [0, 1] after each step
   (projected gradient ascent, pixels only); ``valid=None``: no constraint (the naive recipe;
   clip only when showing it).

Randomness (the initial noise) comes only from the ``torch.Generator`` passed in;
``generator=None`` means a fresh ``torch.Generator().manual_seed(0)``, so the same call gives the
same start and the global torch RNG is never drawn from.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional

import torch

from ..hooks import check_count, check_generator, check_input

# Lucid's square root of the ImageNet colour covariance (rows: R, G, B).
COLOR_CORRELATION = torch.tensor([[0.26, 0.09, 0.02],
                                  [0.27, 0.00, -0.05],
                                  [0.27, -0.09, 0.03]])
COLOR_CORRELATION_NORMALIZED = COLOR_CORRELATION / COLOR_CORRELATION.norm(dim=0).max()
_VALID = ("sigmoid", "clip", None)


class ImageParam:
    """An image made from parameters: ``parameters()`` for the optimiser, ``p()`` for the image."""

    def __init__(self, tensors: list, to_image, *, shape: tuple, valid: Optional[str], name: str):
        self.tensors = tensors
        self._to_image = to_image
        self.shape = shape
        self.valid = valid
        self.name = name

    def parameters(self) -> list:
        return self.tensors

    def __call__(self) -> torch.Tensor:
        return self._to_image()

    @torch.no_grad()
    def project(self) -> None:
        """After a step: clamp the pixels to [0, 1] (only for ``valid="clip"``)."""
        if self.valid == "clip":
            for t in self.tensors:
                t.clamp_(0, 1)

    def __repr__(self) -> str:
        n, c, h, w = self.shape
        return f"ImageParam({self.name}, batch={n}, {h}x{w}, valid={self.valid!r})"


def _check(size: int, batch: int, valid, width: Optional[int] = None) -> None:
    if valid not in _VALID:
        raise ValueError(f"valid must be 'sigmoid', 'clip' or None, got {valid!r}")
    check_count("size (the image's height in pixels)", size, 2)
    if width is not None:
        check_count("width (the image's width in pixels)", width, 2)
    check_count("batch (how many images)", batch, 1)


def _finite(name: str, value, minimum: Optional[float] = None) -> float:
    """A finite real number (>= ``minimum``), e.g. the noise scale ``sd``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return float(value)




def check_pixels(x: torch.Tensor, name: str = "images") -> torch.Tensor:
    """``x`` must be a finite float batch ``N x 3 x H x W`` of pixels in [0, 1] (not a normalised
    model input, not uint8); returns it (copied out of inference mode if needed)."""
    if isinstance(x, torch.Tensor) and x.ndim == 4 and not x.is_floating_point():
        raise ValueError(f"{name} must be float pixels in [0, 1], got {x.dtype}; convert 0..255 values "
                         "with x.float() / 255")
    try:
        x = check_input(x)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    if x.shape[1] != 3:
        raise ValueError(f"{name} must be RGB images N x 3 x H x W, got {tuple(x.shape)}"
                         + ("; repeat a grey image with x.expand(-1, 3, -1, -1)" if x.shape[1] == 1 else ""))
    if x.device.type != "meta":
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"{name} must be pixels in [0, 1]; these span [{lo:.3g}, {hi:.3g}] -- a normalised "
                             "input from vizlab.preprocess? Undo it with x * std + mean (for Lite0: x * 0.5 + 0.5)")
    return x


def decorrelate_colors(z: torch.Tensor) -> torch.Tensor:
    """``c[n, :, y, x] = C @ z[n, :, y, x]`` with Lucid's normalised colour matrix ``C``."""
    C = COLOR_CORRELATION_NORMALIZED.to(device=z.device, dtype=z.dtype)
    return torch.einsum("ij,njhw->nihw", C, z)


def _finish(z: torch.Tensor, decorrelate: bool, valid: Optional[str]) -> torch.Tensor:
    if decorrelate:
        z = decorrelate_colors(z)
    return torch.sigmoid(z) if valid == "sigmoid" else z


def rfft2d_freqs(h: int, w: int) -> torch.Tensor:
    """``|f|`` in cycles per pixel for each entry of a ``[h, w // 2 + 1]`` real spectrum."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(w, dtype=torch.float64)[None, :]
    return torch.sqrt(fx * fx + fy * fy)


def spectrum_scale(h: int, w: int, decay_power: float = 1.0) -> torch.Tensor:
    """``1 / max(f, 1 / max(h, w)) ** decay_power``: natural photos' 1/f amplitude fall-off."""
    return (1.0 / rfft2d_freqs(h, w).clamp(min=1.0 / max(h, w)) ** decay_power).float()


def pixels(size: int, width: Optional[int] = None, *, batch: int = 1, sd: float = 0.01,
           decorrelate: bool = False, valid: Optional[str] = "sigmoid",
           generator: Optional[torch.Generator] = None, init: Optional[torch.Tensor] = None,
           device=None, dtype=torch.float32) -> ImageParam:
    """One parameter per pixel and colour.

    Starts from ``sd * noise`` (a grey image after the sigmoid; the noise from ``generator``, None
    meaning seed 0), or from ``init`` (an image ``N x 3 x H x W`` of float pixels in [0, 1], e.g. a
    photo for style transfer; ``size`` is then ignored).
    """
    if init is not None:
        if isinstance(init, torch.Tensor) and (init.ndim != 4 or init.shape[1] != 3):
            raise ValueError(f"init must be an image batch N x 3 x H x W in [0, 1], got {tuple(init.shape)}")
        init = check_pixels(init, "init")
        if decorrelate:
            raise ValueError("init= works with decorrelate=False (start from the pixels themselves)")
        _check(init.shape[-2], init.shape[0], valid, init.shape[-1])
        with torch.inference_mode(False):  # a parameter must be able to take part in autograd
            x = init.detach().to(dtype).clone()
            t = torch.logit(x.clamp(1e-4, 1 - 1e-4)) if valid == "sigmoid" else x
            t.requires_grad_(True)
        return ImageParam([t], lambda: _finish(t, False, valid), shape=tuple(t.shape), valid=valid,
                          name="pixels")
    width = size if width is None else width
    _check(size, batch, valid, width)
    sd = _finite("sd (the starting noise's standard deviation)", sd, 0)
    if valid == "clip" and decorrelate:
        raise ValueError("valid='clip' projects the pixels themselves; use it with decorrelate=False")
    generator = check_generator(generator)
    with torch.inference_mode(False):  # a parameter must be able to take part in autograd
        t = torch.randn(batch, 3, size, width, generator=generator, dtype=dtype) * sd
        if valid in ("clip", None):
            t = t + 0.5  # start from mid grey (sigmoid(0) = 0.5 for the other case)
        t = t.to(device).requires_grad_(True)
    return ImageParam([t], lambda: _finish(t, decorrelate, valid), shape=tuple(t.shape), valid=valid,
                      name="pixels" + ("+decorrelate" if decorrelate else ""))


def fft_image(spectrum: torch.Tensor, h: int, w: int, decay_power: float = 1.0) -> torch.Tensor:
    """The image of a real spectrum ``[N, C, h, w // 2 + 1, 2]`` (real, imaginary): ``irfft2(S * scale) / 4``."""
    scale = spectrum_scale(h, w, decay_power).to(spectrum.device)
    S = torch.view_as_complex(spectrum.contiguous()) * scale
    return torch.fft.irfftn(S, s=(h, w), norm="ortho") / 4.0


def fft(size: int, width: Optional[int] = None, *, batch: int = 1, sd: float = 0.01, decay_power: float = 1.0,
        decorrelate: bool = True, valid: Optional[str] = "sigmoid", generator: Optional[torch.Generator] = None,
        spectrum: Optional[torch.Tensor] = None, device=None) -> ImageParam:
    """The image as a 1/f-scaled Fourier spectrum (optionally in decorrelated colour).

    ``spectrum`` (``[N, 3, H, W // 2 + 1, 2]``) sets the starting spectrum instead of ``sd * noise``
    (the noise from ``generator``, None meaning seed 0).
    """
    width = size if width is None else width
    _check(size, batch, valid, width)
    sd = _finite("sd (the starting noise's standard deviation)", sd, 0)
    decay_power = _finite("decay_power (the spectrum's 1/f^decay_power fall-off, 1 for photos)", decay_power)
    if valid == "clip":
        raise ValueError("valid='clip' projects pixels; an FFT image uses valid='sigmoid' (or None)")
    shape = (batch, 3, size, width // 2 + 1, 2)
    with torch.inference_mode(False):  # a parameter must be able to take part in autograd
        if spectrum is None:
            spectrum = torch.randn(*shape, generator=check_generator(generator)) * sd
        elif not isinstance(spectrum, torch.Tensor) or tuple(spectrum.shape) != shape:
            got = tuple(spectrum.shape) if isinstance(spectrum, torch.Tensor) else type(spectrum).__name__
            raise ValueError(f"spectrum must have shape {shape}, got {got}")
        elif not spectrum.is_floating_point() or not torch.isfinite(spectrum).all():
            raise ValueError("spectrum must hold finite float values (real, imaginary parts)")
        t = spectrum.detach().clone().float().to(device).requires_grad_(True)

    def image() -> torch.Tensor:
        return _finish(fft_image(t, size, width, decay_power), decorrelate, valid)

    return ImageParam([t], image, shape=(batch, 3, size, width), valid=valid,
                      name="fft" + ("+decorrelate" if decorrelate else ""))


_fft = fft  # ``image`` has an argument called ``fft``, as in Lucent


def image(size: int, width: Optional[int] = None, *, batch: int = 1, fft: bool = True, decorrelate: bool = True,
          sd: float = 0.01, generator: Optional[torch.Generator] = None, device=None) -> ImageParam:
    """Lucent's ``param.image``: FFT + decorrelated colour + sigmoid by default (``generator=None``:
    seed 0)."""
    if fft:
        return _fft(size, width, batch=batch, sd=sd, decorrelate=decorrelate, generator=generator, device=device)
    return pixels(size, width, batch=batch, sd=sd, decorrelate=decorrelate, generator=generator, device=device)


__all__ = ["ImageParam", "check_pixels", "pixels", "fft", "image", "fft_image", "spectrum_scale", "rfft2d_freqs",
           "decorrelate_colors", "COLOR_CORRELATION", "COLOR_CORRELATION_NORMALIZED"]
