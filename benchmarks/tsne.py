"""t-SNE for chapter 09: scikit-learn (what vizlab uses) vs openTSNE, same process, same data.

Data: the 450 test digits as raw pixels (1,024-D) and as the digits CNN's penultimate features
(128-D), perplexity 30, PCA start, 500 iterations in total (250 with early exaggeration + 250), one
thread. Reports median CPU seconds of interleaved repeats, the ratio openTSNE / scikit-learn, and
the quality of both maps (trustworthiness, 5-NN accuracy in 2-D, silhouette) so that "faster" is
judged at the same quality. openTSNE is not a vizlab dependency (measured: 0.85-0.93x the CPU time
of scikit-learn at 450 points, same quality -- not enough to add a package); install it with
``pip install openTSNE`` to repeat the comparison, otherwise only scikit-learn is timed.

    python benchmarks/tsne.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import vizlab as vz
from vizlab import digits as D
from vizlab import embed as E


def run_sklearn(X: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE
    return TSNE(perplexity=30, init="pca", learning_rate="auto", random_state=seed, max_iter=500,
                n_jobs=1).fit_transform(X)


def run_opentsne(X: np.ndarray, seed: int) -> np.ndarray:
    import openTSNE
    return np.asarray(openTSNE.TSNE(perplexity=30, initialization="pca", early_exaggeration_iter=250, n_iter=250,
                                    n_jobs=1, random_state=seed).fit(X))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    split = D.load_split()
    y = split.y_test.numpy()
    spaces = {"pixels": split.x_test.flatten(1).double().numpy(),
              "CNN relu4": E.layer_features(vz.load("digits_cnn"), split.x_test, D.PENULTIMATE)}
    runners = {"sklearn": run_sklearn, "openTSNE": run_opentsne}
    try:
        import openTSNE  # noqa: F401
    except ImportError:
        print("openTSNE is not installed (pip install openTSNE): timing scikit-learn only")
        del runners["openTSNE"]
    print(f"{'features':10s} {'library':9s} {'CPU s':>6s} {'ratio':>6s} {'trust':>6s} {'5-NN 2-D':>8s} {'silh.':>6s}")
    for name, X in spaces.items():
        times = {lib: [] for lib in runners}
        maps = {}
        for r in range(args.repeats):
            for lib in (list(runners) if r % 2 == 0 else list(runners)[::-1]):   # interleaved
                t0 = time.process_time()
                maps[lib] = runners[lib](X, seed=0)
                times[lib].append(time.process_time() - t0)
        base = statistics.median(times["sklearn"])
        for lib in runners:
            m = E.measure(X, maps[lib], y)
            t = statistics.median(times[lib])
            print(f"{name:10s} {lib:9s} {t:6.2f} {t / base:6.2f} {m['trustworthiness']:6.3f} {m['knn_2d']:8.1%} "
                  f"{m['silhouette_2d']:6.2f}")


if __name__ == "__main__":
    main()
