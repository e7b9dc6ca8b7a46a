"""Photos in, tensors out (and back).

* ``sample_image(name)`` -- photos that ship with packages vizlab already installs
  (scikit-image, scikit-learn, matplotlib): no download, no internet. ``list_samples()`` names them.
* ``load_image(src)`` -- a path, PIL image or numpy array; grayscale, RGBA, 16-bit, any size -> RGB.
* ``preprocess(image, model)`` -- resize the short side, centre-crop, normalise: ``[1, 3, H, W]``.
* ``deprocess(x, model)`` -- undo the normalisation: a float ``H x W x 3`` array in [0, 1],
  exactly the pixels the model saw, ready for ``plt.imshow`` or a heatmap overlay.
* ``asset_path(name)`` -- a file the chapters read (a precomputed cache, a figure, the leaderboard), shipped
  inside the package in ``vizlab/assets/``: a chapter copied anywhere (nbgrader's release folder) still finds
  it. ``list_assets()`` names them.
"""
from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path
from typing import NamedTuple, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from . import models as _models
from .hooks import check_count

ImageLike = Union[str, Path, Image.Image, np.ndarray]


class Sample(NamedTuple):
    package: str
    path: str
    what: str
    source: str


SAMPLES = {
    "chelsea": Sample("skimage", "data/chelsea.png", "Chelsea the cat", "scikit-image (Stefan van der Walt), CC0"),
    "coffee": Sample("skimage", "data/coffee.png", "a cup of coffee", "scikit-image (Rachel Michetti), CC0"),
    "astronaut": Sample("skimage", "data/astronaut.png", "astronaut Eileen Collins", "scikit-image (NASA), public domain"),
    "rocket": Sample("skimage", "data/rocket.jpg", "a rocket on the launch pad", "scikit-image (SpaceX), CC0"),
    "motorcycle_left": Sample("skimage", "data/motorcycle_left.png", "a motorcycle (stereo, left view)",
                              "scikit-image (Middlebury stereo data set), see data/README.md"),
    "camera": Sample("skimage", "data/camera.png", "a photographer (grayscale)", "scikit-image, CC0"),
    "china": Sample("sklearn", "datasets/images/china.jpg", "a Chinese pagoda",
                    "scikit-learn (Wikimedia Commons, CC BY 2.0)"),
    "flower": Sample("sklearn", "datasets/images/flower.jpg", "a flower", "scikit-learn (Wikimedia Commons, CC BY 2.0)"),
    "grace_hopper": Sample("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "Rear Admiral Grace Hopper",
                           "matplotlib (US Navy), public domain"),
}


def list_samples() -> list[str]:
    """Names ``sample_image`` accepts."""
    return list(SAMPLES)


def sample_path(name: str) -> Path:
    """Where a sample photo lies on disk (inside an installed package)."""
    if name not in SAMPLES:
        import difflib
        close = difflib.get_close_matches(name, SAMPLES, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise _models.NotFoundError(f"no sample image {name!r}.{hint} Available: {', '.join(SAMPLES)}")
    sample = SAMPLES[name]
    spec = importlib.util.find_spec(sample.package)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"sample {name!r} comes with the package {sample.package!r}, which is not installed")
    return Path(spec.submodule_search_locations[0]) / sample.path


def sample_image(name: str) -> Image.Image:
    """A sample photo as an RGB ``PIL.Image`` (see ``list_samples()``)."""
    return load_image(sample_path(name))


def list_assets() -> list[str]:
    """Names ``asset_path`` accepts: the files in ``vizlab/assets/`` (see data/README.md for each one)."""
    folder = importlib.resources.files(__package__) / "assets"
    return sorted(f.name for f in folder.iterdir() if f.is_file() and not f.name.startswith((".", "_")))


def asset_path(name: str) -> Path:
    """The path of a file that ships inside vizlab (``vizlab/assets/<name>``), for any install.

    Chapters read their precomputed files through this rather than ``../data/...``, so that a chapter
    copied out of the repository (the student version, one notebook sent by mail) finds them too::

        np.load(vz.data.asset_path("style_cache_grid.npz"))

    An unknown name raises ``NotFoundError`` (a ``KeyError``) naming the closest and all available assets.
    """
    available = list_assets()
    if not isinstance(name, str) or name not in available:
        import difflib
        close = difflib.get_close_matches(str(name), available, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise _models.NotFoundError(f"no asset {name!r} in vizlab/assets.{hint} Available: {', '.join(available)}")
    # vizlab is installed as a folder (wheel or editable), never zipped: the resource is a real file.
    return Path(str(importlib.resources.files(__package__) / "assets" / name))


def _array_to_uint8(a: np.ndarray, top: Optional[int] = None) -> np.ndarray:
    """Any numeric array -> uint8 with the full range kept (16-bit, float in [0, 1], bool).

    Integers are read as 0..``top``: 65535 for uint16 (and 16-bit files), else 255 unless a
    value exceeds 255. Negative values or values above 65535 are no pixel values: an error."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min(initial=0)), int(a.max(initial=0))
        if lo < 0 or hi > 65535:
            raise ValueError(f"integer pixel values must lie in 0..255 (8-bit) or 0..65535 (16-bit); this image "
                             f"spans {lo}..{hi}. Rescale it, e.g. to floats in [0, 1]")
        if top is None:
            top = 65535 if a.dtype == np.uint16 or hi > 255 else 255
        return (a.astype(np.float64) / top * 255).round().clip(0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError("the image holds NaN or infinite values")
        if a.min(initial=0) < 0 or a.max(initial=0) > 1:
            raise ValueError(f"a float image must lie in [0, 1]; this one spans [{a.min():.3g}, {a.max():.3g}]. "
                             "Rescale it, or pass uint8 values in 0..255")
        return (a * 255).round().astype(np.uint8)
    raise ValueError(f"cannot read an image from an array of dtype {a.dtype}")


def _array_to_pil(a: np.ndarray, top: Optional[int] = None) -> Image.Image:
    if 0 in a.shape:
        raise ValueError(f"the image array {a.shape} is empty")
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
        raise ValueError(f"the array looks channels-first {a.shape}; pass it as H x W x C (a.transpose(1, 2, 0))")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ValueError(f"an image array must be H x W, H x W x 3 or H x W x 4, got shape {a.shape}")
    return Image.fromarray(_array_to_uint8(a, top))


def load_image(src: ImageLike) -> Image.Image:
    """An RGB ``PIL.Image`` from a path, a PIL image or a numpy array.

    Grayscale becomes three equal channels; RGBA is laid on white; 16-bit keeps its full range
    (a dark 16-bit photo stays dark); a phone photo is turned upright by its EXIF orientation.
    """
    if isinstance(src, (str, Path)):
        path = Path(src).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"no image file at {path}")
        try:
            img = Image.open(path)
            img.load()
        except Exception as err:  # PIL raises several types for a file that is not an image
            raise ValueError(f"{path} is not an image PIL can read ({err})") from None
    elif isinstance(src, Image.Image):
        img = src
    elif isinstance(src, np.ndarray):
        img = _array_to_pil(src)
    elif isinstance(src, torch.Tensor):
        raise ValueError("load_image takes a photo, not a tensor; a preprocessed tensor goes straight "
                         "to the model (and vizlab.deprocess turns it back into a picture)")
    else:
        raise ValueError(f"cannot read an image from {type(src).__name__}; pass a path, PIL image or numpy array")
    if isinstance(src, (str, Path, Image.Image)):
        try:
            img = ImageOps.exif_transpose(img)  # EXIF Orientation (e.g. 6: rotated 90 degrees)
        except Exception:  # a damaged EXIF block: keep the pixels as stored
            pass
    if 0 in img.size:
        raise ValueError(f"the image is empty ({img.size[0]} x {img.size[1]} pixels)")
    if img.mode in ("La", "RGBa"):  # premultiplied alpha: PIL converts these only to LA / RGBA
        img = img.convert("LA" if img.mode == "La" else "RGBA")
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        img = _array_to_pil(np.asarray(img), top=65535)
    elif img.mode in ("I", "F"):
        img = _array_to_pil(np.asarray(img))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def _resize_and_crop(img: Image.Image, size: int) -> Image.Image:
    """Resize so the short side is ``size``, then cut the central ``size x size`` square."""
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return img.crop((left, top, left + size, top + size))


# --------------------------------------------------------------------------------------------
# Pixels <-> model input: the one place (attacks, baselines, substrates, renders and style transfer use it)
# --------------------------------------------------------------------------------------------

def channel_stats(mean, std, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean`` and ``std`` (numbers or one per channel) as ``[1, C, 1, 1]`` tensors with ``like``'s dtype
    and device; one value (or the same value for every channel) serves any number of channels."""
    mean = tuple(mean) if isinstance(mean, (list, tuple)) else (float(mean),)
    std = tuple(std) if isinstance(std, (list, tuple)) else (float(std),)
    if len(set(mean)) == 1 and len(set(std)) == 1:
        mean, std = mean[:1], std[:1]
    mean = torch.tensor(mean, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
    if mean.shape[1] not in (1, like.shape[1]):
        raise ValueError(f"the normalisation has {mean.shape[1]} channels but the pixels have {like.shape[1]}")
    return mean, std


def input_stats(model: Optional[torch.nn.Module], like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's input normalisation (``vizlab.info(model)``; ImageNet's for ``None`` or a model vizlab did
    not load) as ``[1, C, 1, 1]`` tensors shaped for ``like``."""
    meta = _models.info(model) if model is not None else _models.ModelInfo("imagenet")
    return channel_stats(meta.mean, meta.std, like)


def normalize(p: torch.Tensor, model: Optional[torch.nn.Module] = None) -> torch.Tensor:
    """Pixels in [0, 1] ``[N, C, H, W]`` -> the model's input: ``(p - mean) / std``."""
    mean, std = input_stats(model, p)
    return (p - mean) / std


def denormalize(x: torch.Tensor, model: Optional[torch.nn.Module] = None) -> torch.Tensor:
    """The model's input ``[N, C, H, W]`` -> pixels: ``x * std + mean`` (not clamped)."""
    mean, std = input_stats(model, x)
    return x * std + mean


# --------------------------------------------------------------------------------------------
# Canvases: two photos in one input (the chapters' test of "is the map class-discriminative?")
# --------------------------------------------------------------------------------------------

def _check_two_inputs(fn: str, left, right, one_image: bool) -> None:
    """Both ``left`` and ``right`` are model inputs ``[N, C, H, W]`` (``N = 1`` if ``one_image``)."""
    shape = "[1, C, H, W]" if one_image else "[N, C, H, W]"
    for name, t in (("left", left), ("right", right)):
        if not isinstance(t, torch.Tensor) or t.ndim != 4 or (one_image and t.shape[0] != 1):
            raise ValueError(f"{fn} takes two model inputs {shape} (vz.preprocess gives one); "
                             f"{name} is {tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")


def side_by_side(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Two model inputs ``[N, C, H, W]`` and ``[N, C, H, W']`` as one input ``[N, C, H, W + W']``:
    ``left`` in the columns ``0 .. W-1``, ``right`` after it. A network with global average pooling
    takes any width, so the pair is classified, and explained, as one picture."""
    _check_two_inputs("side_by_side", left, right, one_image=False)
    if left.shape[:3] != right.shape[:3]:
        raise ValueError(f"the two inputs must agree in batch, channels and height to sit side by side: "
                         f"{tuple(left.shape)} and {tuple(right.shape)}; preprocess both at the same size")
    return torch.cat([left, right], dim=3)


def canvas_boxes(size: int) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Where ``canvas(..., size=size)`` puts its photos: ``(left_box, right_box)``, each
    ``(x0, y0, x1, y1)`` in pixels (x1, y1 exclusive), as ``vizlab.evaluate.box_mask`` takes them."""
    half, top = size // 2, size // 4
    return (0, top, half, top + half), (half, top, 2 * half, top + half)


def canvas(left: torch.Tensor, right: torch.Tensor, model: Optional[torch.nn.Module] = None,
           size: Optional[int] = None) -> torch.Tensor:
    """Two photos at half size side by side on mid-grey, as one model input ``[1, C, S, S]``.

    Each model input ``[1, C, H, W]`` is shrunk to ``S/2 x S/2`` by area averaging and placed in
    the middle band of the canvas (``canvas_boxes(S)`` gives both boxes); the rest is pixel value
    0.5 passed through the model's normalisation (``normalize``). ``S`` defaults to ``left``'s height.
    Unlike ``side_by_side`` the canvas keeps the model's input size, so a network with a fixed
    input size (a fully connected head) takes it too."""
    _check_two_inputs("canvas", left, right, one_image=True)
    if left.shape[1] != right.shape[1]:
        raise ValueError(f"the two photos have {left.shape[1]} and {right.shape[1]} channels; preprocess both "
                         "for the same model")
    size = check_count("size", left.shape[2] if size is None else size)
    if size < 2:
        raise ValueError(f"a canvas of {size} px has no room for two photos; use size >= 2")
    grey = normalize(torch.full((1, left.shape[1], 1, 1), 0.5, dtype=left.dtype, device=left.device), model)
    out = grey.expand(1, left.shape[1], size, size).clone()
    for photo, (x0, y0, x1, y1) in zip((left, right), canvas_boxes(size)):
        out[:, :, y0:y1, x0:x1] = F.interpolate(photo.to(out), size=(y1 - y0, x1 - x0), mode="area")
    return out


def preprocess(image: ImageLike, model: Optional[torch.nn.Module] = None, size: Optional[int] = None) -> torch.Tensor:
    """A photo -> the normalised batch ``[1, 3, size, size]`` the model expects.

    ``x = (pixels / 255 - mean) / std`` with the model's own mean and std
    (EfficientNet-Lite: 0.5 / 0.5; torchvision: ImageNet's). ``size`` defaults to the model's.
    """
    meta = _models.info(model) if model is not None else _models.ModelInfo("imagenet")
    if size is not None:
        size = check_count("size", size)
    img = _resize_and_crop(load_image(image), size or meta.input_size)
    pixels = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return normalize(pixels[None], model)


def deprocess(x: torch.Tensor, model: Optional[torch.nn.Module] = None) -> np.ndarray:
    """A normalised tensor ``[1, 3, H, W]`` or ``[3, H, W]`` -> float ``H x W x 3`` in [0, 1]."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"deprocess takes the model's input tensor [1, 3, H, W], got {type(x).__name__}"
                         + ("; a numpy image is already a picture (show it with plt.imshow), or convert it "
                            "with torch.from_numpy" if isinstance(x, np.ndarray) else ""))
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"deprocess takes one image; pick one with x[i:i+1] (got a batch of {x.shape[0]})")
        x = x[0]
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected [1, 3, H, W] or [3, H, W], got {tuple(x.shape)}")
    img = denormalize(x.detach().float().cpu()[None], model)[0].clamp(0, 1)
    return img.permute(1, 2, 0).numpy()


__all__ = ["sample_image", "list_samples", "sample_path", "asset_path", "list_assets", "load_image", "preprocess",
           "deprocess", "normalize", "denormalize", "input_stats", "channel_stats", "side_by_side", "canvas",
           "canvas_boxes", "SAMPLES"]
