"""The annotated photos and two-object canvases: boxes drawn by hand around the object of each
sample photo, shipped as package data (``vizlab/assets/annotations.json``)."""
from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from ..data import canvas as _canvas, canvas_boxes, preprocess, sample_image
from ..lookup import info


def annotations_path() -> Path:
    """``vizlab/assets/annotations.json``, shipped inside the package (boxes drawn by hand, see
    data/README.md in the repository), so that a normal ``pip install`` finds it too."""
    return Path(__file__).resolve().parent.parent / "assets" / "annotations.json"


def annotated_inputs(model: nn.Module, path=None, canvases: bool = True) -> list[dict]:
    """The annotated photos (and two-object canvases) as model inputs: a list of
    ``{"name", "x" [1, 3, S, S], "target" (class index), "label", "boxes" [[x0, y0, x1, y1], ...]}``.

    A canvas shows two photos at half size side by side on grey; it appears twice, once per
    object, with that object's class as the target and its (halved, moved) boxes."""
    spec = json.loads(Path(annotations_path() if path is None else path).read_text(encoding="utf-8"))
    size, photos = spec["size"], spec["photos"]
    made_for = info(model).input_size
    if made_for != size:
        raise ValueError(f"the annotated boxes are in pixels of {size} x {size} ImageNet inputs, but "
                         f"{info(model).name} takes {made_for} px images; use an ImageNet model "
                         "(vizlab.load()), or build your own items {'name', 'x', 'target', 'label', 'boxes'}")
    xs = {name: preprocess(sample_image(name), model) for name in photos}
    items = [{"name": n, "x": xs[n], "target": a["class"], "label": a["label"], "boxes": a["boxes"]}
             for n, a in photos.items()]
    if not canvases:
        return items
    for cname, c in spec.get("canvases", {}).items():
        canvas = _canvas(xs[c["left"]], xs[c["right"]], model)
        for side, (dx, top, _, _) in zip(("left", "right"), canvas_boxes(size)):
            a = photos[c[side]]
            boxes = [[dx + b[0] // 2, top + b[1] // 2, dx + (b[2] + 1) // 2, top + (b[3] + 1) // 2] for b in a["boxes"]]
            items.append({"name": f"{cname}:{a['label']}", "x": canvas, "target": a["class"], "label": a["label"],
                          "boxes": boxes})
    return items
