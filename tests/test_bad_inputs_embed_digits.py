"""Bad inputs to the embedding and digits helpers get a clear vizlab error -- never a crash, a raw
sklearn/numpy/torch message, or a silently wrong answer (issue 19, bugs 18, 25, 30, 31).

One table: case -> (call, expected error type, a phrase the message must contain). Data-dependent
crashes of t-SNE (bug 1) are tested in a subprocess in tests/test_embed.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import vizlab as vz
from vizlab import digits as D
from vizlab import embed as E
from vizlab import shortcut
from conftest import assert_clear_error

NAN, INF = float("nan"), float("inf")
X = torch.randn(30, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
Y2 = X[:, :2].copy()
LABELS = np.arange(30) % 3
NET = D.random_model(0)
FRAMES = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(1))
SPLIT = D.load_split()
SMALL = D.Split(SPLIT.x_train[:40], SPLIT.y_train[:40], SPLIT.x_test[:40], SPLIT.y_test[:40], SPLIT.images_test[:40])
DIGIT = np.zeros((1, 8, 8))


def _with(value, i=0):
    Z = X.copy()
    Z[i, 0] = value
    return Z


CASES = {
    # ---- bug 31: tsne
    "tsne NaN": (lambda: E.tsne(_with(NAN), 5), ValueError, "X holds NaN or infinite"),
    "tsne inf": (lambda: E.tsne(_with(INF), 5), ValueError, "NaN or infinite"),
    "tsne 1-D": (lambda: E.tsne(X[:, 0], 5), ValueError, "X[:, None]"),
    "tsne 3-D": (lambda: E.tsne(X.reshape(30, 2, 2), 5), ValueError, "flatten them"),
    "tsne init bogus": (lambda: E.tsne(X, 5, init="bogus"), ValueError, "init must be 'pca' or 'random'"),
    "tsne init typo": (lambda: E.tsne(X, 5, init="randm"), ValueError, "did you mean 'random'"),
    "tsne max_iter 100": (lambda: E.tsne(X, 5, max_iter=100), ValueError, "max_iter must be at least 250"),
    "tsne max_iter 2.5": (lambda: E.tsne(X, 5, max_iter=300.5), ValueError, "max_iter must be a whole number"),
    "tsne seed -1": (lambda: E.tsne(X, 5, seed=-1), ValueError, "seed must be at least 0"),
    "tsne perplexity string": (lambda: E.tsne(X, "5"), TypeError, "perplexity must be a number"),
    "tsne perplexity NaN": (lambda: E.tsne(X, NAN), ValueError, "perplexity"),
    "tsne pca init on one feature": (lambda: E.tsne(X[:, :1], 5), ValueError, "init='random'"),
    "tsne one point": (lambda: E.tsne(X[:1], 5), ValueError, "at least 2 points"),
    # ---- bug 31: the measures
    "knn k=0": (lambda: E.knn_accuracy(X, LABELS, k=0), ValueError, "k must be at least 1"),
    "knn k=n": (lambda: E.knn_accuracy(X, LABELS, k=30), ValueError, "use k <= 29"),
    "knn k=2.5": (lambda: E.knn_accuracy(X, LABELS, k=2.5), ValueError, "whole number"),
    "knn negative labels": (lambda: E.knn_accuracy(X, LABELS - 1, k=3), ValueError, "labels must be class numbers >= 0"),
    "knn float labels": (lambda: E.knn_accuracy(X, LABELS + 0.5, k=3), TypeError, "whole-number class numbers"),
    "knn string labels": (lambda: E.knn_accuracy(X, LABELS.astype(str), k=3), TypeError, "np.unique"),
    "knn labels too short": (lambda: E.knn_accuracy(X, LABELS[:10], k=3), ValueError, "30 of them"),
    "nearest_neighbours k=n": (lambda: E.nearest_neighbours(X, k=30), ValueError, "use k <= 29"),
    "trustworthiness k >= n/2": (lambda: E.trustworthiness(X, Y2, k=15), ValueError, "k < n / 2 = 15"),
    "trustworthiness rows differ": (lambda: E.trustworthiness(X, Y2[:20], k=3), ValueError, "one row per point"),
    "silhouette one class": (lambda: E.silhouette(Y2, np.zeros(30, int)), ValueError, "labels hold 1"),
    "silhouette labels too short": (lambda: E.silhouette(Y2, LABELS[:5]), ValueError, "30 of them"),
    "measure NaN embedding": (lambda: E.measure(X, np.full_like(Y2, NAN), LABELS), ValueError, "Y holds NaN"),
    "pca of 1-D data": (lambda: E.pca(X[:, 0], 2), ValueError, "2-D array"),
    "pca n_components=0": (lambda: E.pca(X, 0), ValueError, "n_components"),
    "spread labels too short": (lambda: E.spread(X, LABELS[:3]), ValueError, "30 of them"),
    "gaussian_blobs sigmas=[]": (lambda: E.gaussian_blobs(sigmas=[]), ValueError, "sigmas is empty"),
    "gaussian_blobs NaN sigma": (lambda: E.gaussian_blobs(sigmas=[1.0, NAN]), ValueError, "sigmas[1]"),
    "gaussian_blobs negative sigma": (lambda: E.gaussian_blobs(sigmas=[-1.0]), ValueError, "sigmas[0]"),
    "gaussian_blobs n=0": (lambda: E.gaussian_blobs(n=0), ValueError, "n must be at least 1"),
    "gaussian_blobs centres too few": (lambda: E.gaussian_blobs(n=3, dim=2, sigmas=(1.0, 1.0), centres=np.zeros((1, 2))),
                                       ValueError, "one centre of 2 coordinates per blob"),
    "gaussian_blobs seed as generator": (lambda: E.gaussian_blobs(generator=0), TypeError, "torch.Generator"),
    "layer_features batch_size=0": (lambda: E.layer_features(NET, FRAMES, "relu4", batch_size=0), ValueError,
                                    "batch_size must be at least 1"),
    "layer_features no images": (lambda: E.layer_features(NET, FRAMES[:0], "relu4"), ValueError, "at least one image"),
    "affinity_row NaN": (lambda: E.affinity_row(np.array([0.0, NAN, 4.0]), 2), ValueError, "d2 holds NaN"),
    "affinity_row perplexity=0": (lambda: E.affinity_row(np.array([0.0, 1.0, 4.0]), 0), ValueError,
                                  "perplexity must lie between 1 and"),
    "affinity_row perplexity above n": (lambda: E.affinity_row(np.array([0.0, 1.0, 4.0]), 5), ValueError,
                                        "number of other points, 3"),
    "affinity_row negative distance": (lambda: E.affinity_row(np.array([0.0, -1.0]), 1.5), ValueError, "negative"),
    "affinity_row 2-D": (lambda: E.affinity_row(np.zeros((2, 2)), 1.5), ValueError, "1-D array"),
    # ---- bug 25: the t-SNE explorer, at construction
    "explorer perplexities=()": (lambda: vz.widgets.TsneExplorer({"x": X}, LABELS, perplexities=()), ValueError,
                                 "perplexities is empty"),
    "explorer string perplexity": (lambda: vz.widgets.TsneExplorer({"x": X}, LABELS, perplexities=("5",)),
                                   TypeError, "perplexity must be a number"),
    "explorer perplexities='5'": (lambda: vz.widgets.TsneExplorer({"x": X}, LABELS, perplexities="5"), TypeError,
                                  "list of numbers"),
    "explorer string labels": (lambda: vz.widgets.TsneExplorer({"x": X}, LABELS.astype(str)), TypeError,
                               "class numbers"),
    # (a dead layer's features: tests/test_embed.py, in a subprocess -- before the fix they crashed pytest)
    "explorer perplexity too large": (lambda: vz.widgets.TsneExplorer({"x": X}, LABELS, perplexities=(40,)),
                                      ValueError, "perplexity must lie between"),
    "explorer spaces=[]": (lambda: vz.widgets.TsneExplorer([], LABELS), ValueError, "at least one feature space"),
    # ---- bug 18: counts and steps of training
    "train batch_size=0": (lambda: D.train(epochs=1, batch_size=0, split=SMALL), ValueError, "batch_size"),
    "train epochs=-1": (lambda: D.train(epochs=-1, split=SMALL), ValueError, "epochs must be at least 1"),
    "train epochs=2.5": (lambda: D.train(epochs=2.5, split=SMALL), ValueError, "epochs must be a whole number"),
    "train lr<0": (lambda: D.train(epochs=1, lr=-1e-3, split=SMALL), ValueError, "lr (Adam's learning rate)"),
    "train lr=nan": (lambda: D.train(epochs=1, lr=NAN, split=SMALL), ValueError, "finite number > 0"),
    "train shift<0": (lambda: D.train(epochs=1, shift=-1, split=SMALL), ValueError, "shift must be at least 0"),
    "train shift=40": (lambda: D.train(epochs=1, shift=40, split=SMALL), ValueError, "shift=2"),
    "train seed=-1": (lambda: D.train(seed=-1, epochs=1, split=SMALL), ValueError, "seed"),
    "train split tuple": (lambda: D.train(epochs=1, split=tuple(SMALL)[:2]), TypeError, "load_split()"),
    # ---- adversarial training (issue 22 item 4)
    "train eps<0": (lambda: D.train(epochs=1, eps=-0.1, split=SMALL), ValueError, "L-inf budget in pixel units"),
    "train eps=26 (grey levels)": (lambda: D.train(epochs=1, eps=26, split=SMALL), ValueError, "such as 0.1"),
    "train eps=nan": (lambda: D.train(epochs=1, eps=NAN, split=SMALL), ValueError, "a number in [0, 1]"),
    "train steps=0": (lambda: D.train(epochs=1, eps=0.1, steps=0, split=SMALL), ValueError, "steps must be at least 1"),
    "train ramp=0": (lambda: D.train(epochs=1, eps=0.1, ramp=0, split=SMALL), ValueError, "ramp must be at least 1"),
    "pgd_examples not a model": (lambda: D.pgd_examples("digits_cnn", FRAMES, [0] * 4, 0.1, 2, torch.Generator()),
                                 TypeError, "torch.nn.Module"),
    "pgd_examples 0..255": (lambda: D.pgd_examples(NET, FRAMES * 255, [0] * 4, 0.1, 2, torch.Generator()),
                            ValueError, "pixels in [0, 1]"),
    "pgd_examples labels too short": (lambda: D.pgd_examples(NET, FRAMES, [0] * 3, 0.1, 2, torch.Generator()),
                                      ValueError, "one label per image: 4"),
    "pgd_examples float labels": (lambda: D.pgd_examples(NET, FRAMES, torch.zeros(4), 0.1, 2, torch.Generator()),
                                  TypeError, "whole-number"),
    "pgd_examples eps 8 (grey levels)": (lambda: D.pgd_examples(NET, FRAMES, [0] * 4, 8, 2, torch.Generator()),
                                         ValueError, "pixel units"),
    "pgd_examples steps 2.5": (lambda: D.pgd_examples(NET, FRAMES, [0] * 4, 0.1, 2.5, torch.Generator()),
                               ValueError, "steps must be a whole number"),
    "pgd_examples seed for generator": (lambda: D.pgd_examples(NET, FRAMES, [0] * 4, 0.1, 2, 0), TypeError,
                                        "torch.Generator"),
    "pgd_examples 8x8": (lambda: D.pgd_examples(NET, torch.zeros(1, 1, 8, 8), [0], 0.1, 2, torch.Generator()),
                         ValueError, "to_pixels"),
    "accuracy batch_size=0": (lambda: D.accuracy(NET, FRAMES, torch.zeros(4, dtype=torch.long), batch_size=0),
                              ValueError, "batch_size"),
    "accuracy labels too short": (lambda: D.accuracy(NET, FRAMES, torch.zeros(3, dtype=torch.long)), ValueError,
                                  "one label per image: 4"),
    "accuracy labels [N, 1]": (lambda: D.accuracy(NET, FRAMES, torch.zeros(4, 1, dtype=torch.long)), ValueError,
                               "one label per image"),
    "accuracy float labels": (lambda: D.accuracy(NET, FRAMES, torch.zeros(4)), TypeError, "whole-number"),
    # ---- bug 30: the digits helpers
    "to_pixels NaN": (lambda: D.to_pixels(np.full((1, 8, 8), NAN)), ValueError, "NaN"),
    "to_pixels 7x7": (lambda: D.to_pixels(np.zeros((1, 7, 7))), ValueError, "[N, 8, 8] or [N, 64]"),
    "to_pixels empty": (lambda: D.to_pixels(np.zeros((0, 8, 8))), ValueError, "no digits given"),
    "to_pixels strings": (lambda: D.to_pixels([["a"] * 64]), TypeError, "numbers 0..16"),
    "add_marker positions too short": (lambda: D.add_marker(FRAMES, [1, 2]), ValueError, "positions holds 2 values"),
    "add_marker float position": (lambda: D.add_marker(FRAMES, 2.5), TypeError, "whole numbers 0..9"),
    "add_marker position 10": (lambda: D.add_marker(FRAMES, 10), ValueError, "-1 (no marker) or 0..9"),
    "add_marker position -2": (lambda: D.add_marker(FRAMES, -2), ValueError, "-1 (no marker)"),
    "add_marker 8x8 images": (lambda: D.add_marker(torch.zeros(1, 1, 8, 8), 0), ValueError, "to_pixels"),
    "marker_box 2.5": (lambda: D.marker_box(2.5), TypeError, "whole number"),
    "marker_share position -1": (lambda: shortcut.marker_share(torch.ones(1, 32, 32), -1), ValueError, "0..9"),
    "zeiler_fergus 2 channels": (lambda: D.zeiler_fergus(NET, FRAMES.expand(4, 2, 32, 32), 1, 0), ValueError,
                                 "1 channel (or 3"),
    "zeiler_fergus NaN": (lambda: D.zeiler_fergus(NET, torch.full((1, 1, 32, 32), NAN), 1, 0), ValueError, "NaN"),
    "zeiler_fergus 3-D": (lambda: D.zeiler_fergus(NET, FRAMES[0], 1, 0), ValueError, "x[None]"),
    "zeiler_fergus 0..255": (lambda: D.zeiler_fergus(NET, FRAMES * 255, 1, 0), ValueError, "pixels in [0, 1]"),
    "zeiler_fergus float64": (lambda: D.zeiler_fergus(NET, FRAMES.double(), 1, 0), ValueError, "torch.float64"),
    "zeiler_fergus float channel": (lambda: D.zeiler_fergus(NET, FRAMES, 1, 2.0), TypeError, "channel"),
    "zeiler_fergus block 0": (lambda: D.zeiler_fergus(NET, FRAMES, 0, 0), ValueError, "block must be 1..3"),
    "zeiler_fergus not a DigitsCNN": (lambda: D.zeiler_fergus(vz.load("resnet18", pretrained=False), FRAMES, 1, 0),
                                      TypeError, "DigitsCNN"),
    "top_activations k=-1": (lambda: D.top_activations(NET, FRAMES, 1, 0, k=-1), ValueError, "k must be at least 1"),
    "receptive_field block 0": (lambda: D.receptive_field(0, 1, 1), ValueError, "block must be 1..3"),
    "receptive_field float unit": (lambda: D.receptive_field(1, 1.5, 1), TypeError, "i must be a whole number"),
    "receptive_field unit outside": (lambda: D.receptive_field(3, 8, 0), ValueError, "i must be 0..7"),
    "load(None)": (lambda: D.load(None), TypeError, "named by a string"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_clear_error(case):
    assert_clear_error(CASES, case)
