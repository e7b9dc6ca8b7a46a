"""Embedding helpers: t-SNE's affinity row against scikit-learn's binary search, k-NN accuracy on
hand-made points and against scikit-learn's leave-one-out classifier, the quality measures'
axioms, caching and determinism of t-SNE, feature capture hygiene."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import vizlab as vz
from vizlab import digits as D
from vizlab import embed as E
from conftest import assert_untouched, model_state


def _rand(n, d, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).numpy()


# ---- the affinity row -------------------------------------------------------------------------

@pytest.mark.parametrize("perplexity", [2.0, 5.0, 30.0])
def test_affinity_row_matches_sklearn_binary_search(perplexity):
    from sklearn.manifold._utils import _binary_search_perplexity
    X = _rand(80, 10)
    d2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    rows = np.array([np.delete(d2[i], i) for i in range(len(X))])
    ref = _binary_search_perplexity(rows.astype(np.float32), perplexity, 0)
    for i in (0, 17, 79):
        p, sigma = E.affinity_row(rows[i], perplexity)
        assert np.abs(p - ref[i]).max() < 1e-4
        entropy = -np.sum(p[p > 0] * np.log2(p[p > 0]))
        assert 2 ** entropy == pytest.approx(perplexity, rel=1e-4)
        assert sigma > 0


def test_affinity_row_by_hand():
    """Two neighbours at squared distances 0 and d: p = (1, e^{-beta d}) / (1 + e^{-beta d}).
    Perplexity 2 (entropy 1 bit) needs p = (1/2, 1/2): beta -> 0, a very wide Gaussian."""
    p, sigma = E.affinity_row(np.array([0.0, 4.0]), 1.5)
    beta = 1 / (2 * sigma ** 2)
    assert p == pytest.approx([1 / (1 + np.exp(-4 * beta)), np.exp(-4 * beta) / (1 + np.exp(-4 * beta))], rel=1e-9)
    H = -(p * np.log2(p)).sum()
    assert 2 ** H == pytest.approx(1.5, rel=1e-4)


# ---- k-NN accuracy, trustworthiness, silhouette ---------------------------------------------

def test_knn_accuracy_by_hand():
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    assert E.knn_accuracy(X, [0, 0, 1, 1], k=1) == 1.0
    assert E.knn_accuracy(X, [0, 1, 0, 1], k=1) == 0.0
    # k = 3: point 0's neighbours are 1, 10, 11 -> labels 0, 1, 1 -> 1 (wrong)
    assert E.knn_accuracy(X, [0, 0, 1, 1], k=3) == 0.0


def test_knn_accuracy_matches_sklearn_leave_one_out():
    from sklearn.model_selection import LeaveOneOut, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    X = _rand(60, 4, seed=1)
    y = (X[:, 0] + 0.5 * _rand(60, 1, seed=2)[:, 0] > 0).astype(int) + (X[:, 1] > 0.8)
    ref = cross_val_score(KNeighborsClassifier(n_neighbors=5), X, y, cv=LeaveOneOut()).mean()
    assert E.knn_accuracy(X, y, k=5) == pytest.approx(ref)


def test_quality_measures_axioms():
    X, y = E.gaussian_blobs(n=40, dim=5, sigmas=(1.0, 1.0), generator=torch.Generator().manual_seed(0))
    assert E.trustworthiness(X, X[:, :5], k=5) == pytest.approx(1.0)
    assert E.trustworthiness(X, _rand(80, 2), k=5) < 0.7           # a random picture is not trustworthy
    assert E.silhouette(X[:, :2], y) > 0.9                         # blobs 100 apart
    shuffled = np.random.default_rng(0).permutation(y)
    assert abs(E.silhouette(X[:, :2], shuffled)) < 0.1             # labels that mean nothing
    m = E.measure(X, X[:, :2], y)
    assert set(m) == {"trustworthiness", "knn_original", "knn_2d", "silhouette_2d"} and m["knn_2d"] == 1.0


def test_pca_matches_sklearn_up_to_sign():
    from sklearn.decomposition import PCA
    X = _rand(50, 8)
    ours, ref = E.pca(X, 3), PCA(3).fit_transform(X)
    signs = np.sign((ours * ref).sum(0))
    assert np.allclose(ours * signs, ref, atol=1e-10)


def test_blobs_and_spread():
    X, y = E.gaussian_blobs(n=200, dim=50, sigmas=(1.0, 10.0), generator=torch.Generator().manual_seed(3))
    X2, _ = E.gaussian_blobs(n=200, dim=50, sigmas=(1.0, 10.0), generator=torch.Generator().manual_seed(3))
    assert np.array_equal(X, X2)
    s = E.spread(X, y)
    assert s[1] / s[0] == pytest.approx(10, rel=0.05)
    assert s[0] == pytest.approx(np.sqrt(50), rel=0.05)


# ---- t-SNE -------------------------------------------------------------------------------------

def test_tsne_is_deterministic_cached_and_keeps_blobs_apart():
    X, y = E.gaussian_blobs(n=30, dim=10, sigmas=(1.0, 1.0), generator=torch.Generator().manual_seed(0))
    a = E.tsne(X, perplexity=10, seed=0)
    a[:] = 0                                        # a copy: the cache is not changed
    b = E.tsne(X, perplexity=10, seed=0)
    E._CACHE.clear()
    c = E.tsne(X, perplexity=10, seed=0)
    assert np.array_equal(b, c) and b.shape == (60, 2) and np.abs(b).sum() > 0
    assert E.knn_accuracy(b, y, k=5) >= 0.95
    with pytest.raises(ValueError, match="perplexity"):
        E.tsne(X, perplexity=60)


def test_nearest_neighbours_excludes_the_point_itself():
    X = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert E.nearest_neighbours(X, k=2).tolist() == [[1, 2], [0, 2], [1, 0], [2, 1]]


# ---- features from a layer -------------------------------------------------------------------

def test_layer_features_are_the_penultimate_vectors_and_leave_the_model_untouched():
    model = vz.load("digits_cnn").train()           # a train-mode model: features in eval mode, flag restored
    x = D.load_split().x_test[:20]
    before = model_state(model)
    feats = E.layer_features(model, x, D.PENULTIMATE, batch_size=8)
    assert_untouched(model, before)
    model.eval()
    with torch.no_grad():
        h = (x - model.mean) / model.std
        for i in (1, 2, 3):
            h = model.get_submodule(f"pool{i}")(torch.relu(model.get_submodule(f"conv{i}")(h)))
        want = torch.relu(model.fc1(h.flatten(1)))
    assert feats.shape == (20, 128)
    assert np.allclose(feats, want.double().numpy(), atol=1e-6)


# ---- the explorer -----------------------------------------------------------------------------

def test_tsne_explorer_precomputes_and_only_looks_up():
    X, y = E.gaussian_blobs(n=25, dim=6, sigmas=(1.0, 3.0), generator=torch.Generator().manual_seed(1))
    spaces = {"raw": X, "first two": X[:, :2].copy()}
    ex = vz.widgets.TsneExplorer(spaces, y, perplexities=(5, 10))
    assert ex.measures("raw", 5) == E.measure(X, E.tsne(X, 5), y)
    assert np.array_equal(ex.embedding("first two", 10), E.tsne(spaces["first two"], 10))
    pic = ex.render("raw", 10)
    assert pic.ndim == 3 and pic.shape[2] == 3 and 0 <= pic.min() and pic.max() <= 1
    assert ex.render("raw", 10) is pic                        # cached: a slider move draws nothing
    box = ex.widget
    ex.perplexity.value = 5.0
    assert "trustworthiness" in ex.info.value and box is ex.widget
    with pytest.raises(KeyError, match="perplexities"):
        ex.embedding("raw", 7)
    with pytest.raises(ValueError, match="one row per label"):
        vz.widgets.TsneExplorer({"raw": X[:10]}, y)


# ---- data t-SNE cannot place: a clear error, never a crashed kernel (issue 19, bug 1) -------

_DEGENERATE = '''
import numpy as np, torch
from vizlab import embed as E
from vizlab.widgets import TsneExplorer
rng = np.random.default_rng(0)
outlier = np.zeros((30, 5)); outlier[0] = 1e-200
cases = {"zeros": np.zeros((30, 5)), "constant": np.full((30, 5), 3.3), "huge": np.full((30, 5), 1e300),
         "tiny spread": 1.0 + rng.normal(size=(30, 5)) * 1e-300, "tiny outlier": outlier,
         "huge spread": rng.normal(size=(30, 5)) * 1e40}
for name, X in cases.items():
    for init in ("pca", "random"):
        try:
            E.tsne(X, perplexity=5, init=init)
        except ValueError as err:
            print(name, init, "refused:", "dead" in str(err) or "rescale" in str(err), flush=True)
try:
    TsneExplorer({"dead layer": np.zeros((30, 4))}, np.arange(30) % 3, perplexities=(5,))
except ValueError as err:
    print("explorer refused:", "'dead layer'" in str(err) and "dead" in str(err), flush=True)
'''


def test_tsne_refuses_identical_rows_in_a_subprocess():
    """All-identical rows (a dead layer's features) used to kill the process with SIGSEGV inside
    scikit-learn's PCA init (scikit-learn #28368), and so did spreads below ~1e-20 or above ~1e38.
    Run in a subprocess so that a regression fails this test instead of killing pytest."""
    import subprocess
    import sys
    import os
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", _DEGENERATE], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, f"exit {run.returncode} (negative: killed by a signal)\n{run.stdout}\n{run.stderr}"
    lines = run.stdout.splitlines()
    assert len(lines) == 13 and all(line.endswith("True") for line in lines), run.stdout


def test_tsne_cache_is_bounded_and_keeps_recent_embeddings():
    E._CACHE.clear()
    X = [_rand(12, 3, seed=s) for s in range(E._CACHE_SIZE + 4)]
    first = E.tsne(X[0], perplexity=3)
    for Xi in X[1:E._CACHE_SIZE]:
        E.tsne(Xi, perplexity=3)
    E.tsne(X[0], perplexity=3)                      # a hit: X[0] becomes the most recent
    for Xi in X[E._CACHE_SIZE:]:
        E.tsne(Xi, perplexity=3)
    assert len(E._CACHE) == E._CACHE_SIZE
    assert any(np.array_equal(v, first) for v in E._CACHE.values())          # recently used: kept
    assert np.array_equal(E.tsne(X[0], perplexity=3), first)


def test_tsne_seed_does_nothing_with_pca_init_and_is_documented():
    X, _ = E.gaussian_blobs(n=15, dim=4, sigmas=(1.0, 1.0))
    assert np.array_equal(E.tsne(X, 5, seed=0), E.tsne(X, 5, seed=1))
    assert not np.array_equal(E.tsne(X, 5, seed=0, init="random"), E.tsne(X, 5, seed=1, init="random"))
    assert "init=\"pca\"" in E.tsne.__doc__ and "seed" in E.tsne.__doc__


def test_valid_inputs_give_the_same_answers_as_before():
    """Validation changed no valid call: a tensor, a list and ints are still accepted as before."""
    X, y = E.gaussian_blobs(n=20, dim=3, sigmas=(1.0, 2.0), generator=torch.Generator().manual_seed(2))
    assert E.knn_accuracy(X.tolist(), list(y), k=3) == E.knn_accuracy(X, y, k=3)
    assert E.knn_accuracy(torch.from_numpy(X), torch.from_numpy(y), k=3) == E.knn_accuracy(X, y, k=3)
    assert E.silhouette(X, ["a" if v else "b" for v in y]) == pytest.approx(E.silhouette(X, y))
    assert np.array_equal(E.tsne(X, 5), E.tsne(torch.from_numpy(X), 5.0))
    Xb, _ = E.gaussian_blobs(n=5, dim=2, sigmas=[1, 10])
    Xc, _ = E.gaussian_blobs(n=5, dim=2, sigmas=(1.0, 10.0))
    assert np.array_equal(Xb, Xc)


def test_tsne_explorer_checks_its_arguments_when_made():
    X, y = E.gaussian_blobs(n=10, dim=3, sigmas=(1.0, 1.0))
    with pytest.raises(ValueError, match="perplexities is empty"):
        vz.widgets.TsneExplorer({"raw": X}, y, perplexities=())
    with pytest.raises(TypeError, match="perplexity must be a number"):
        vz.widgets.TsneExplorer({"raw": X}, y, perplexities=("5",))
    with pytest.raises(TypeError, match="class numbers"):
        vz.widgets.TsneExplorer({"raw": X}, np.where(y == 0, "cat", "dog"))
    with pytest.raises(ValueError, match="feature space 'raw'"):
        vz.widgets.TsneExplorer({"raw": np.full_like(X, np.nan)}, y)
