"""Names and metadata: what a model's inputs and outputs mean, and its layers by name.

The bottom of vizlab: no model code, no hooks, only ``torch.nn`` and the standard library, so every
other module can import it. ``vizlab.models`` re-exports all of it (``vizlab.models.info`` etc.).

* ``info(model)`` -- input size, normalisation, class names and the default CAM layer
  (``ModelInfo``, attached by ``vizlab.load``; ImageNet defaults for any other model).
* ``class_name(model, i)``, ``class_index(model, name)`` -- between output indices and class names.
* ``layer_names(model)``, ``find_layer(model, name)`` -- layers by name, with the closest names
  suggested for a typo (``LayerNotFoundError``).
"""
from __future__ import annotations

import difflib
import functools
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from torch import nn

# --------------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelInfo:
    """How to feed a model and what its outputs mean."""

    name: str
    input_size: int = 224
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    categories: tuple = field(default=(), repr=False)
    cam_layer: Optional[str] = None


@functools.lru_cache(maxsize=1)
def imagenet_categories() -> tuple:
    """The 1000 ImageNet class names in the usual index order (the list torchvision ships in its
    weights metadata, copied to ``imagenet_classes.txt`` so that no torchvision import is needed)."""
    text = (Path(__file__).parent / "imagenet_classes.txt").read_text(encoding="utf-8")
    return tuple(text.splitlines())


def info(model: nn.Module) -> ModelInfo:
    """The ``ModelInfo`` that ``load`` attached; for any other model, ImageNet defaults (224 px,
    ImageNet mean/std, ImageNet class names if it has 1000 outputs)."""
    if not isinstance(model, nn.Module):
        hint = (f"; load it first: vizlab.load({model!r})" if isinstance(model, str) else "")
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__} {model!r}{hint}")
    model = getattr(model, "_orig_mod", model)  # a torch.compile'd model: the original module
    found = getattr(model, "vizlab_info", None)
    if isinstance(found, ModelInfo):
        return found
    return ModelInfo(name=type(model).__name__)


def class_name(model: nn.Module, index: int) -> str:
    """The human name of output ``index`` (``"class 17"`` when the model carries no names)."""
    try:
        if isinstance(index, bool):
            raise TypeError
        index = operator.index(index)  # int, numpy integer or a one-element integer tensor
    except TypeError:
        raise TypeError(f"a class index is an int such as 281, got {type(index).__name__} {index!r}") from None
    if index < 0:
        raise ValueError(f"class index {index} is negative; classes are numbered from 0")
    cats = info(model).categories
    if not cats:
        cats = _imagenet_if_1000(model)
    return cats[index] if index < len(cats) else f"class {index}"


def class_index(model: nn.Module, name: str) -> int:
    """The output index of a class given by (part of) its name, e.g. ``"espresso"`` -> 967."""
    if not isinstance(name, str):
        raise TypeError(f"a class name is a string such as 'espresso', got {type(name).__name__}")
    cats = info(model).categories or _imagenet_if_1000(model)
    exact = [i for i, c in enumerate(cats) if c.lower() == name.lower()]
    if exact:
        return exact[0]
    partial = [i for i, c in enumerate(cats) if name.lower() in c.lower()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        options = ", ".join(f"{i} {cats[i]!r}" for i in partial[:8])
        raise NotFoundError(f"class name {name!r} matches several classes: {options}; pick one by index")
    if not cats:
        raise NotFoundError(f"no class called {name!r}: {type(model).__name__} carries no class names; "
                            "pass the class index (an int)")
    close = difflib.get_close_matches(name, cats, n=5, cutoff=0.5)
    hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
    raise NotFoundError(f"no class called {name!r}{hint}")


def _imagenet_if_1000(model: nn.Module) -> tuple:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if last and last[-1].out_features == 1000:
        return imagenet_categories()
    return ()


# --------------------------------------------------------------------------------------------
# Layers by name
# --------------------------------------------------------------------------------------------

class NotFoundError(KeyError):
    """An unknown name (layer, class, sample photo); the message lists the closest names."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])


class LayerNotFoundError(NotFoundError):
    """An unknown layer name."""


def layer_names(model: nn.Module) -> list[str]:
    """The names of every sub-module, in definition order (``""``, the model itself, left out)."""
    return [name for name, _ in model.named_modules() if name]


def find_layer(model: nn.Module, name: Union[str, nn.Module]) -> nn.Module:
    """The sub-module called ``name`` (e.g. ``"blocks.3.depthwise.act"``); a module is returned as is."""
    if isinstance(name, nn.Module):
        return name
    if not isinstance(name, str):
        raise TypeError(f"a layer is named by a string such as 'layer4', got {type(name).__name__} {name!r}; "
                        "vizlab.layers(model) lists the names")
    inner = getattr(model, "_orig_mod", None)
    if isinstance(inner, nn.Module):  # torch.compile'd: hooks must go on the original module
        model = inner
    if name.startswith("_orig_mod."):
        name = name[len("_orig_mod."):]
    modules = dict(model.named_modules())
    if name in modules and name:
        return modules[name]
    names = layer_names(model)
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.4)
    tops = sorted({n.split(".")[0] for n in names})
    hint = f" Closest: {', '.join(close)}." if close else ""
    raise LayerNotFoundError(f"no layer called {name!r} in {type(model).__name__}.{hint} "
                             f"Top-level layers: {', '.join(tops)}. vizlab.layers(model) lists all.")


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ModelInfo", "imagenet_categories", "info", "class_name", "class_index",
           "NotFoundError", "LayerNotFoundError", "layer_names", "find_layer"]
