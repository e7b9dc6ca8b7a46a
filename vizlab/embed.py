"""Embeddings: what a layer's feature vectors look like in 2-D, and how much of the picture to trust.

t-SNE (van der Maaten & Hinton, "Visualizing Data using t-SNE", JMLR 2008) places points in 2-D
so that the *neighbourhoods* of the high-dimensional points are kept:

* for each point i, the affinity to j is a Gaussian on the squared distance,
  ``p_{j|i} = exp(-beta_i d_ij^2) / sum_{k != i} exp(-beta_i d_ik^2)`` with ``beta_i = 1 / (2 sigma_i^2)``,
  and ``beta_i`` chosen by binary search so that the *perplexity* ``2^{H(P_i)}`` (``H`` the Shannon
  entropy in bits) equals the value the user picks: roughly "how many neighbours count";
* ``p_ij = (p_{j|i} + p_{i|j}) / 2n``; in 2-D, ``q_ij`` uses a Student-t kernel ``(1 + |y_i - y_j|^2)^-1``
  (normalised over all pairs), and the points move to minimise ``KL(P || Q)``.

Because only neighbourhoods are matched, cluster *sizes* and *distances between clusters* in the
picture mean little. The measures below say what was kept:

* ``trustworthiness`` (Venna & Kaski 2001; scikit-learn's): 1 when every 2-D neighbour is also a
  near neighbour in the original space;
* ``knn_accuracy``: leave-one-out k-nearest-neighbour accuracy -- in the original space (are the
  classes separable there?) and in 2-D (did the picture keep that?);
* ``silhouette`` by class in 2-D: ``(b - a) / max(a, b)`` averaged, ``a`` the mean distance to the
  own class, ``b`` to the nearest other class (scikit-learn's ``silhouette_score``).

Functions take numpy arrays ``[n, d]``; ``tsne`` results are cached per (data, settings), so a
chapter can ask for the same embedding twice at no cost.
"""
from __future__ import annotations

import difflib
import hashlib
import math
import numbers
import threading
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .hooks import capture, check_count, check_generator, check_input

__all__ = ["layer_features", "tsne", "pca", "affinity_row", "knn_accuracy", "trustworthiness", "silhouette",
           "measure", "nearest_neighbours", "gaussian_blobs", "spread", "plot_embedding"]


# --------------------------------------------------------------------------------------------
# Checking what comes in: errors that name the argument and the fix
# --------------------------------------------------------------------------------------------

def _points(X, name: str = "X", min_rows: int = 2) -> np.ndarray:
    """``X`` as a finite float64 array ``[n, d]`` with at least ``min_rows`` rows and one column."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {type(X).__name__}") from None
    if X.ndim != 2:
        fix = (" (one feature per point? use X[:, None])" if X.ndim == 1 else
               " (images? flatten them: X.reshape(len(X), -1))" if X.ndim > 2 else "")
        raise ValueError(f"{name} must be a 2-D array [n points, d features], got shape {X.shape}{fix}")
    if X.shape[1] < 1 or len(X) < min_rows:
        raise ValueError(f"{name} has shape {X.shape}; it needs at least {min_rows} points (rows) "
                         "and 1 feature (column)")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} holds NaN or infinite values ({int((~np.isfinite(X)).sum())} of {X.size}); "
                         "check how the features were made (a diverged model? a division by zero?)")
    return X


def _labels(labels, n: int, name: str = "labels") -> np.ndarray:
    """``labels`` as ``n`` non-negative int class numbers (one per point)."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    y = np.asarray(labels)
    if y.dtype.kind not in "iu" and not (y.dtype == object and all(isinstance(v, numbers.Integral) and
                                                                  not isinstance(v, bool) for v in y.ravel())):
        raise TypeError(f"{name} must be whole-number class numbers 0, 1, 2, ... (one per point), got dtype "
                        f"{y.dtype}" + ("; map class names to numbers first, e.g. with np.unique(names, "
                                        "return_inverse=True)[1]" if y.dtype.kind in "USO" else ""))
    y = y.astype(np.int64)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{name} must hold one class number per point: {n} of them, got shape {y.shape}")
    if n and y.min() < 0:
        raise ValueError(f"{name} must be class numbers >= 0, got {int(y.min())}")
    return y


def _real(name: str, value, low: float = -math.inf, high: float = math.inf, low_open: bool = False) -> float:
    """A finite real number in [low, high] (or (low, high] with ``low_open``), as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < low or value > high or (low_open and value == low):
        span = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if high < math.inf else "")
        raise ValueError(f"{name} must be a finite number {span}, got {value}")
    return value


def _k_neighbours(k, n: int, name: str = "k") -> int:
    k = check_count(name, k)
    if k >= n:
        raise ValueError(f"{name} = {k} neighbours needs more than {k} points; there are {n} "
                         f"(use k <= {n - 1})")
    return k


# --------------------------------------------------------------------------------------------
# Feature vectors
# --------------------------------------------------------------------------------------------

def layer_features(model: nn.Module, x: torch.Tensor, layer: str, batch_size: int = 256) -> np.ndarray:
    """The output of ``layer`` for every image of ``x``, flattened to ``[n, d]`` (float64 numpy).
    Uses ``vizlab.capture`` (hooks removed, model left as found), ``batch_size`` images at a time."""
    batch_size = check_count("batch_size", batch_size)
    x = check_input(x, model)
    parts = [capture(model, x[i:i + batch_size], layer)[layer].flatten(1) for i in range(0, len(x), batch_size)]
    return torch.cat(parts).double().numpy()


def pca(X: np.ndarray, n_components: int = 50) -> np.ndarray:
    """The first ``n_components`` principal-component scores of ``X`` (centred; via SVD)."""
    X = _points(X)
    n_components = check_count("n_components", n_components)
    Xc = X - X.mean(0)
    U, S, _ = np.linalg.svd(Xc, full_matrices=False)
    k = min(n_components, len(S))
    return U[:, :k] * S[:k]


# --------------------------------------------------------------------------------------------
# t-SNE
# --------------------------------------------------------------------------------------------

def _digest(X: np.ndarray) -> str:
    X = np.ascontiguousarray(X, dtype=np.float64)
    return hashlib.sha1(X.tobytes() + str(X.shape).encode()).hexdigest()


_CACHE: "OrderedDict[tuple, np.ndarray]" = OrderedDict()   # least recently used first
_CACHE_SIZE = 16          # embeddings kept (a 450-point one is 7 KiB; a chapter asks for about 10)
_CACHE_LOCK = threading.Lock()
_INITS = ("pca", "random")
_SPREAD = (1e-15, 1e15)   # features spread wider or narrower than this crash or mislead sklearn's float32 steps


def _check_spread(X: np.ndarray) -> None:
    """Refuse data that t-SNE cannot place: all rows identical (nothing to arrange; with
    ``init="pca"`` scikit-learn even divides by a zero spread and crashes the kernel, scikit-learn
    issue #28368), or a spread outside ``_SPREAD`` (its float32 steps underflow or overflow)."""
    centred = np.abs(X - X.mean(0))
    spread, size = float(centred.max()), float(np.abs(X).max())
    if spread == 0 or spread <= 1e-13 * size:
        raise ValueError(f"all {len(X)} rows of X are identical ({'exactly' if spread == 0 else 'up to rounding'}), "
                         "so t-SNE has nothing to arrange. If they are a layer's features, the layer is dead "
                         "for these inputs (e.g. every ReLU is off, or the weights are all zero): pick another "
                         "layer or check the model and its input")
    if not _SPREAD[0] <= spread <= _SPREAD[1]:
        raise ValueError(f"the points of X lie within {spread:.1e} of their mean, outside the {_SPREAD[0]:g}.."
                         f"{_SPREAD[1]:g} that t-SNE's float32 steps can handle; rescale them first, "
                         "e.g. X / X.std()")


def tsne(X: np.ndarray, perplexity: float = 30.0, seed: int = 0, init: str = "pca",
         max_iter: int = 500) -> np.ndarray:
    """scikit-learn's Barnes-Hut t-SNE of ``X`` to 2-D (``random_state=seed``, one CPU thread),
    cached per (data, perplexity, seed, init, max_iter); the 16 embeddings used last are kept.
    Returns a fresh ``[n, 2]`` array.

    ``max_iter=500``: 250 steps with the early exaggeration (clusters form), 250 to settle --
    enough for a few hundred points (scikit-learn's default of 1000 takes twice as long; on the
    digits CNN's features it changes trustworthiness, k-NN accuracy and silhouette by < 0.01).

    ``seed`` only matters with ``init="random"``: the default ``init="pca"`` starts from the first
    two principal components, which no seed changes, so every seed gives the same picture. Use
    ``init="random"`` to see how much a t-SNE picture depends on its start.

    ``X`` must be finite and its rows not all identical (the features of a dead layer are): such
    data raises a ValueError instead of the crash it gives inside scikit-learn."""
    from sklearn.manifold import TSNE
    X = _points(X)
    perplexity = _real("perplexity", perplexity)
    if not 1 <= perplexity < len(X) - 1:
        raise ValueError(f"perplexity must lie between 1 and n - 1 = {len(X) - 1} (it is about the number of "
                         f"neighbours each point considers); got {perplexity:g}")
    if init not in _INITS:
        close = difflib.get_close_matches(str(init), _INITS, n=1)
        raise ValueError(f"init must be 'pca' or 'random', got {init!r}"
                         + (f"; did you mean {close[0]!r}?" if close else ""))
    if init == "pca" and X.shape[1] < 2:
        raise ValueError("init='pca' needs at least 2 features (columns) in X to start from two principal "
                         "components; use init='random' for 1-D data")
    seed = check_count("seed", seed, 0)
    max_iter = check_count("max_iter", max_iter, 250)   # scikit-learn's minimum: the early exaggeration's 250
    _check_spread(X)
    key = (_digest(X), perplexity, seed, init, max_iter)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key].copy()
    model = TSNE(n_components=2, perplexity=perplexity, init=init, learning_rate="auto",
                 random_state=seed, max_iter=max_iter, n_jobs=1)
    Y = model.fit_transform(X)
    with _CACHE_LOCK:
        _CACHE[key] = Y
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return Y.copy()


def affinity_row(d2: np.ndarray, perplexity: float, tol: float = 1e-5, steps: int = 100) -> tuple[np.ndarray, float]:
    """One row of t-SNE's input affinities: ``p_j = exp(-beta d2_j) / sum_k exp(-beta d2_k)`` for the
    squared distances ``d2`` from point i to the *other* points, with ``beta`` found by binary search
    so that the entropy ``H = -sum_j p_j log2 p_j`` equals ``log2(perplexity)``. Returns ``(p, sigma)``
    with ``sigma = sqrt(1 / (2 beta))``, the width of point i's Gaussian.

    The entropy falls as ``beta`` grows (a narrower Gaussian trusts fewer neighbours), so: entropy
    too high -> raise ``beta`` (double it while no upper bound is known), too low -> lower it.
    """
    if isinstance(d2, torch.Tensor):
        d2 = d2.detach().cpu().numpy()
    if np.ndim(d2) != 1:
        raise ValueError(f"d2 must be a 1-D array, the squared distances from one point to each other point; "
                         f"got shape {np.shape(d2)}")
    d2 = _points(np.reshape(d2, (1, -1)), "d2", min_rows=1)[0]
    if d2.min() < 0:
        raise ValueError(f"d2 holds squared distances, which cannot be negative; got {d2.min():g}")
    perplexity = _real("perplexity", perplexity)
    if not 1 <= perplexity <= len(d2):
        raise ValueError(f"perplexity must lie between 1 and the number of other points, {len(d2)} (a point "
                         f"cannot have more effective neighbours than there are); got {perplexity:g}")
    tol = _real("tol", tol, 0.0, low_open=True)
    steps = check_count("steps", steps)
    target = np.log2(perplexity)
    beta, lo, hi = 1.0, 0.0, np.inf
    for _ in range(steps):
        logits = -beta * (d2 - d2.min())       # shift for numerical safety; p is unchanged
        p = np.exp(logits)
        p /= p.sum()
        entropy = -np.sum(p[p > 0] * np.log2(p[p > 0]))
        if abs(entropy - target) < tol:
            break
        if entropy > target:
            lo = beta
            beta = beta * 2 if hi == np.inf else (beta + hi) / 2
        else:
            hi = beta
            beta = (beta + lo) / 2
    return p, float(np.sqrt(1 / (2 * beta)))


# --------------------------------------------------------------------------------------------
# How much of the picture to trust
# --------------------------------------------------------------------------------------------

def _neighbours(X: np.ndarray, k: int) -> np.ndarray:
    """Indices of each point's ``k`` nearest other points (Euclidean), nearest first."""
    from sklearn.neighbors import NearestNeighbors
    idx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X, return_distance=False)
    # drop the point itself (it need not come first when there are exact duplicates)
    rows = [[j for j in row if j != i][:k] for i, row in enumerate(idx)]
    return np.asarray(rows)


def nearest_neighbours(X: np.ndarray, k: int = 5) -> np.ndarray:
    """``[n, k]`` indices of each row's ``k`` nearest other rows of ``X`` (Euclidean), nearest first."""
    X = _points(X)
    return _neighbours(X, _k_neighbours(k, len(X)))


def knn_accuracy(X: np.ndarray, labels: Sequence[int], k: int = 5) -> float:
    """Leave-one-out k-NN accuracy: each point is given the majority label of its ``k`` nearest
    *other* points (a tie goes to the smallest label) and compared with its own label.
    ``labels``: one class number 0, 1, 2, ... per row of ``X``."""
    X = _points(X)
    labels = _labels(labels, len(X))
    nn_idx = _neighbours(X, _k_neighbours(k, len(X)))
    votes = labels[nn_idx]
    pred = np.array([np.bincount(v, minlength=labels.max() + 1).argmax() for v in votes])
    return float((pred == labels).mean())


def _pair(X, Y) -> tuple[np.ndarray, np.ndarray]:
    X, Y = _points(X), _points(Y, "Y")
    if len(X) != len(Y):
        raise ValueError(f"X and its embedding Y must have one row per point each; got {len(X)} and {len(Y)} rows")
    return X, Y


def trustworthiness(X: np.ndarray, Y: np.ndarray, k: int = 5) -> float:
    """scikit-learn's ``trustworthiness``: ``1 - 2 / (n k (2n - 3k - 1)) sum_i sum_{j in U_k(i)} (r(i, j) - k)``,
    ``U_k(i)`` the 2-D neighbours of i that are not among its k original neighbours, ``r`` the rank
    in the original space. Defined for ``k < n / 2``."""
    from sklearn.manifold import trustworthiness as tw
    X, Y = _pair(X, Y)
    k = check_count("k", k)
    if not k < len(X) / 2:
        raise ValueError(f"trustworthiness needs k < n / 2 = {len(X) / 2:g} (its normalisation divides by "
                         f"2n - 3k - 1); got k = {k} for {len(X)} points")
    return float(tw(X, Y, n_neighbors=k))


def silhouette(Y: np.ndarray, labels: Sequence[int]) -> float:
    """Mean silhouette of the classes in ``Y`` (scikit-learn's ``silhouette_score``, Euclidean).
    Needs at least 2 classes and fewer classes than points."""
    from sklearn.metrics import silhouette_score
    Y = _points(Y, "Y")
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(Y):
        raise ValueError(f"labels must hold one class per point: {len(Y)} of them, got shape {labels.shape}")
    classes = len(np.unique(labels))
    if not 2 <= classes <= len(Y) - 1:
        raise ValueError(f"the silhouette compares each point's own class with the nearest other class, so it "
                         f"needs 2 to n - 1 = {len(Y) - 1} classes; labels hold {classes}")
    return float(silhouette_score(Y, labels))


def measure(X: np.ndarray, Y: np.ndarray, labels: Sequence[int], k: int = 5) -> dict:
    """The four numbers for one embedding ``Y`` of ``X``: trustworthiness, k-NN accuracy in the
    original space and in 2-D, silhouette by class in 2-D."""
    return {"trustworthiness": trustworthiness(X, Y, k), "knn_original": knn_accuracy(X, labels, k),
            "knn_2d": knn_accuracy(Y, labels, k), "silhouette_2d": silhouette(Y, labels)}


# --------------------------------------------------------------------------------------------
# A case where the picture misleads
# --------------------------------------------------------------------------------------------

def gaussian_blobs(n: int = 100, dim: int = 50, sigmas: Sequence[float] = (1.0, 10.0),
                   centres: Optional[np.ndarray] = None, generator: Optional[torch.Generator] = None):
    """``n`` points per blob in ``dim`` dimensions, blob ``b`` Gaussian with standard deviation
    ``sigmas[b]`` around ``centres[b]`` (default: 0 and 100 along the first axis). Returns
    ``(X [n * blobs, dim], labels)``; randomness only from ``generator`` (None: seed 0)."""
    n, dim = check_count("n", n), check_count("dim", dim)
    if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Sequence) and not isinstance(sigmas, np.ndarray):
        raise TypeError(f"sigmas must be a list of standard deviations, one per blob, got {type(sigmas).__name__}")
    if len(sigmas) == 0:
        raise ValueError("sigmas is empty; give one standard deviation per blob, e.g. sigmas=(1.0, 10.0)")
    sigmas = [_real(f"sigmas[{b}]", s, 0.0) for b, s in enumerate(sigmas)]
    g = check_generator(generator)
    if centres is None:
        centres = np.zeros((len(sigmas), dim))
        centres[:, 0] = 100.0 * np.arange(len(sigmas))
    centres = _points(centres, "centres", min_rows=1)
    if centres.shape != (len(sigmas), dim):
        raise ValueError(f"centres must hold one centre of {dim} coordinates per blob: shape ({len(sigmas)}, {dim}), "
                         f"got {centres.shape}")
    parts = [torch.randn(n, dim, generator=g, dtype=torch.float64).numpy() * s + np.asarray(c)
             for s, c in zip(sigmas, centres)]
    return np.concatenate(parts), np.repeat(np.arange(len(sigmas)), n)


def spread(X: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Per class, the root-mean-square distance of its points to their centroid (a cluster's size)."""
    X = _points(X, min_rows=1)
    labels = np.asarray(labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else labels)
    if labels.ndim != 1 or len(labels) != len(X):
        raise ValueError(f"labels must hold one class per point: {len(X)} of them, got shape {labels.shape}")
    return np.array([np.sqrt(((X[labels == c] - X[labels == c].mean(0)) ** 2).sum(1).mean())
                     for c in np.unique(labels)])


# --------------------------------------------------------------------------------------------
# Drawing (matplotlib, imported on first use)
# --------------------------------------------------------------------------------------------

def plot_embedding(Y: np.ndarray, labels: Sequence[int], ax=None, title: Optional[str] = None,
                   thumbnails: Optional[np.ndarray] = None, every: int = 6, zoom: float = 1.6, size: float = 6,
                   axis_labels: Sequence[str] = ("t-SNE 1", "t-SNE 2")):
    """Scatter a 2-D embedding coloured by class (``tab10``), the class number at each class's
    median; with ``thumbnails`` (``[n, h, w]`` greyscale), every ``every``-th point drawn as its
    picture instead of a dot. The axes are labelled but carry no ticks: a t-SNE map's coordinates
    have no units, only its neighbourhoods mean something. Returns ``ax``."""
    import matplotlib.pyplot as plt
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage
    Y, labels = np.asarray(Y), np.asarray(labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7))
    ax.scatter(Y[:, 0], Y[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=size, linewidths=0)
    if thumbnails is not None:
        for i in range(0, len(Y), every):
            box = OffsetImage(thumbnails[i], cmap="gray_r", zoom=zoom)
            ax.add_artist(AnnotationBbox(box, Y[i], frameon=True, pad=0.05,
                                         bboxprops=dict(edgecolor=plt.cm.tab10(labels[i] % 10), linewidth=0.8)))
    else:
        for c in np.unique(labels):
            mx, my = np.median(Y[labels == c], axis=0)
            ax.text(mx, my, str(c), fontsize=11, weight="bold", ha="center", va="center",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", alpha=0.7, lw=0))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(axis_labels[0], fontsize=8)
    ax.set_ylabel(axis_labels[1], fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
