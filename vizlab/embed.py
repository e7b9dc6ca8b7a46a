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

import functools
import hashlib
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["layer_features", "tsne", "pca", "affinity_row", "knn_accuracy", "trustworthiness", "silhouette",
           "measure", "nearest_neighbours", "gaussian_blobs", "spread", "plot_embedding"]


# --------------------------------------------------------------------------------------------
# Feature vectors
# --------------------------------------------------------------------------------------------

def layer_features(model: nn.Module, x: torch.Tensor, layer: str, batch_size: int = 256) -> np.ndarray:
    """The output of ``layer`` for every image of ``x``, flattened to ``[n, d]`` (float64 numpy).
    Uses ``vizlab.capture`` (hooks removed, model left as found), ``batch_size`` images at a time."""
    from .hooks import capture
    parts = [capture(model, x[i:i + batch_size], layer)[layer].flatten(1) for i in range(0, len(x), batch_size)]
    return torch.cat(parts).double().numpy()


def pca(X: np.ndarray, n_components: int = 50) -> np.ndarray:
    """The first ``n_components`` principal-component scores of ``X`` (centred; via SVD)."""
    X = np.asarray(X, dtype=np.float64)
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


_CACHE: dict = {}


def tsne(X: np.ndarray, perplexity: float = 30.0, seed: int = 0, init: str = "pca",
         max_iter: int = 500) -> np.ndarray:
    """scikit-learn's Barnes-Hut t-SNE of ``X`` to 2-D (``random_state=seed``, one CPU thread),
    cached per (data, perplexity, seed, init, max_iter). Returns a fresh ``[n, 2]`` array.

    ``max_iter=500``: 250 steps with the early exaggeration (clusters form), 250 to settle --
    enough for a few hundred points (scikit-learn's default of 1000 takes twice as long; on the
    digits CNN's features it changes trustworthiness, k-NN accuracy and silhouette by < 0.01)."""
    from sklearn.manifold import TSNE
    X = np.asarray(X, dtype=np.float64)
    if not 1 <= perplexity < len(X) - 1:
        raise ValueError(f"perplexity must lie between 1 and n - 1 = {len(X) - 1} (it is about the number of "
                         f"neighbours each point considers); got {perplexity}")
    key = (_digest(X), float(perplexity), int(seed), init, int(max_iter))
    if key not in _CACHE:
        model = TSNE(n_components=2, perplexity=perplexity, init=init, learning_rate="auto",
                     random_state=seed, max_iter=max_iter, n_jobs=1)
        _CACHE[key] = model.fit_transform(X)
    return _CACHE[key].copy()


def affinity_row(d2: np.ndarray, perplexity: float, tol: float = 1e-5, steps: int = 100) -> tuple[np.ndarray, float]:
    """One row of t-SNE's input affinities: ``p_j = exp(-beta d2_j) / sum_k exp(-beta d2_k)`` for the
    squared distances ``d2`` from point i to the *other* points, with ``beta`` found by binary search
    so that the entropy ``H = -sum_j p_j log2 p_j`` equals ``log2(perplexity)``. Returns ``(p, sigma)``
    with ``sigma = sqrt(1 / (2 beta))``, the width of point i's Gaussian.

    The entropy falls as ``beta`` grows (a narrower Gaussian trusts fewer neighbours), so: entropy
    too high -> raise ``beta`` (double it while no upper bound is known), too low -> lower it.
    """
    d2 = np.asarray(d2, dtype=np.float64)
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
    return _neighbours(np.asarray(X, dtype=np.float64), k)


def knn_accuracy(X: np.ndarray, labels: Sequence[int], k: int = 5) -> float:
    """Leave-one-out k-NN accuracy: each point is given the majority label of its ``k`` nearest
    *other* points (a tie goes to the smallest label) and compared with its own label."""
    labels = np.asarray(labels)
    nn_idx = _neighbours(np.asarray(X, dtype=np.float64), k)
    votes = labels[nn_idx]
    pred = np.array([np.bincount(v, minlength=labels.max() + 1).argmax() for v in votes])
    return float((pred == labels).mean())


def trustworthiness(X: np.ndarray, Y: np.ndarray, k: int = 5) -> float:
    """scikit-learn's ``trustworthiness``: ``1 - 2 / (n k (2n - 3k - 1)) sum_i sum_{j in U_k(i)} (r(i, j) - k)``,
    ``U_k(i)`` the 2-D neighbours of i that are not among its k original neighbours, ``r`` the rank
    in the original space."""
    from sklearn.manifold import trustworthiness as tw
    return float(tw(np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64), n_neighbors=k))


def silhouette(Y: np.ndarray, labels: Sequence[int]) -> float:
    """Mean silhouette of the classes in ``Y`` (scikit-learn's ``silhouette_score``, Euclidean)."""
    from sklearn.metrics import silhouette_score
    return float(silhouette_score(np.asarray(Y, dtype=np.float64), np.asarray(labels)))


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
    ``(X [n * blobs, dim], labels)``; randomness only from ``generator``."""
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    if centres is None:
        centres = np.zeros((len(sigmas), dim))
        centres[:, 0] = 100.0 * np.arange(len(sigmas))
    parts = [torch.randn(n, dim, generator=g, dtype=torch.float64).numpy() * s + np.asarray(c)
             for s, c in zip(sigmas, centres)]
    return np.concatenate(parts), np.repeat(np.arange(len(sigmas)), n)


def spread(X: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Per class, the root-mean-square distance of its points to their centroid (a cluster's size)."""
    X, labels = np.asarray(X, dtype=np.float64), np.asarray(labels)
    return np.array([np.sqrt(((X[labels == c] - X[labels == c].mean(0)) ** 2).sum(1).mean())
                     for c in np.unique(labels)])


# --------------------------------------------------------------------------------------------
# Drawing (matplotlib, imported on first use)
# --------------------------------------------------------------------------------------------

def plot_embedding(Y: np.ndarray, labels: Sequence[int], ax=None, title: Optional[str] = None,
                   thumbnails: Optional[np.ndarray] = None, every: int = 6, zoom: float = 1.6, size: float = 6):
    """Scatter a 2-D embedding coloured by class (``tab10``), the class number at each class's
    median; with ``thumbnails`` (``[n, h, w]`` greyscale), every ``every``-th point drawn as its
    picture instead of a dot. Returns ``ax``."""
    import matplotlib.pyplot as plt
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage
    Y, labels = np.asarray(Y), np.asarray(labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
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
    if title:
        ax.set_title(title, fontsize=9)
    return ax
