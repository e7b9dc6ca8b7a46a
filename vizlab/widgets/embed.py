"""TsneExplorer: feature space x perplexity -> the t-SNE picture and how far to trust it.

Compute once: every (space, perplexity) embedding and its measures are computed when the
explorer is made (``vizlab.embed.tsne`` caches them, so the chapter's other figures reuse them).
Render cheaply: a control change only looks up a cached picture.
"""
from __future__ import annotations

import numbers
from typing import Mapping, Sequence

import numpy as np

from .. import embed
from ..hooks import check_count
from ._base import Explorer, image_widget, update_image

__all__ = ["TsneExplorer"]


def _figure_to_array(fig) -> np.ndarray:
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return rgba[..., :3].astype(np.float64) / 255.0


class TsneExplorer(Explorer):
    """``spaces``: ``{name: features [n, d]}`` for the same ``n`` points with ``labels``.
    ``render(space, perplexity)`` returns the picture the widget shows (``H x W x 3`` in [0, 1]);
    ``measures(space, perplexity)`` the four numbers of ``vizlab.embed.measure``.

    Everything is checked here, when the explorer is made: ``labels`` must be class numbers
    0, 1, 2, ..., ``perplexities`` a non-empty list of numbers, each feature space finite with rows
    not all identical (the features of a dead layer raise a ValueError naming the space).
    ``seed`` is passed to ``vizlab.embed.tsne``, whose default ``init="pca"`` ignores it."""

    def __init__(self, spaces: Mapping[str, np.ndarray], labels: Sequence[int],
                 perplexities: Sequence[float] = (5, 30, 50), seed: int = 0, width: int = 360):
        if not isinstance(spaces, Mapping) or not spaces:
            raise ValueError("give at least one feature space as a dict, e.g. {'pixels': X}")
        arrays = {name: embed._points(X, f"feature space {name!r}") for name, X in spaces.items()}
        sizes = {name: len(X) for name, X in arrays.items()}
        if isinstance(labels, str) or not hasattr(labels, "__len__"):
            raise TypeError(f"labels must be one class number per point, got {type(labels).__name__}")
        if len(set(sizes.values()) | {len(labels)}) != 1:
            raise ValueError(f"every feature space needs one row per label ({len(labels)}); got {sizes}")
        self.spaces = arrays
        self.labels = embed._labels(labels, len(labels))
        if isinstance(perplexities, (str, bytes, numbers.Number)) or not hasattr(perplexities, "__iter__"):
            raise TypeError(f"perplexities must be a list of numbers such as (5, 30, 50), got {perplexities!r}")
        self.perplexities = [embed._real("perplexity", p) for p in perplexities]
        if not self.perplexities:
            raise ValueError("perplexities is empty; give the values the slider offers, e.g. (5, 30, 50)")
        self.seed, self.width = check_count("seed", seed, 0), check_count("width", width)
        self._embeddings: dict[tuple, np.ndarray] = {}
        self._measures: dict[tuple, dict] = {}
        self._pictures: dict[tuple, np.ndarray] = {}
        self._controls = None
        for name, X in self.spaces.items():
            for p in self.perplexities:
                try:
                    Y = embed.tsne(X, p, seed=seed)
                except ValueError as err:
                    raise ValueError(f"feature space {name!r}, perplexity {p:g}: {err}") from err
                self._embeddings[name, p] = Y
                self._measures[name, p] = embed.measure(X, Y, self.labels)

    def embedding(self, space: str, perplexity: float) -> np.ndarray:
        key = (space, float(perplexity))
        if key not in self._embeddings:
            raise KeyError(f"no embedding for {key}; spaces: {list(self.spaces)}, perplexities: {self.perplexities}")
        return self._embeddings[key]

    def measures(self, space: str, perplexity: float) -> dict:
        self.embedding(space, perplexity)
        return dict(self._measures[space, float(perplexity)])

    def render(self, space: str, perplexity: float) -> np.ndarray:
        key = (space, float(perplexity))
        if key not in self._pictures:
            import matplotlib.pyplot as plt
            from matplotlib.figure import Figure
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            fig = Figure(figsize=(3.6, 3.6), dpi=100)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot(1, 1, 1)
            embed.plot_embedding(self.embedding(space, perplexity), self.labels, ax=ax,
                                 title=f"{space}, perplexity {perplexity:g}")
            fig.tight_layout()
            self._pictures[key] = _figure_to_array(fig)
            plt.close(fig)
        return self._pictures[key]

    def _build(self):
        import ipywidgets as w
        self.space = w.ToggleButtons(options=list(self.spaces), description="features")
        self.perplexity = w.SelectionSlider(options=self.perplexities, value=self.perplexities[len(self.perplexities) // 2],
                                            description="perplexity", continuous_update=True)
        self.info = w.HTML()
        self.picture = image_widget(self.render(self.space.value, self.perplexity.value), self.width)
        for control in (self.space, self.perplexity):
            control.observe(lambda change: self._refresh(), names="value")
        self._refresh()
        return w.VBox([self.space, self.perplexity, self.picture, self.info])

    def _refresh(self) -> None:
        space, p = self.space.value, self.perplexity.value
        update_image(self.picture, self.render(space, p))
        m = self._measures[space, float(p)]
        self.info.value = (f"trustworthiness {m['trustworthiness']:.3f} &middot; 5-NN accuracy: original space "
                           f"{m['knn_original']:.1%}, 2-D {m['knn_2d']:.1%} &middot; silhouette {m['silhouette_2d']:.2f}")
