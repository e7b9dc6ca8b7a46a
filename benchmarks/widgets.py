"""Explorer responsiveness and start-up cost, next to a bare forward pass measured in the same run.

    python benchmarks/widgets.py

Prints median times (ms) over repeats. Targets (issue 2): channel change <= 30 ms, layer change
<= 100 ms, import vizlab + load + first prediction <= 2 s (torch's import excluded), a prediction
within 1.5x a bare forward pass.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time


def median_ms(fn, repeats: int = 15) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


STARTUP = """
import time, torch
t = time.perf_counter()
import vizlab as vz
m = vz.load()
x = vz.preprocess(vz.sample_image("chelsea"), m)
vz.predict(m, x)
print(time.perf_counter() - t)
"""


def main() -> None:
    import torch
    import vizlab as vz
    from vizlab.widgets import FeatureMapExplorer

    model = vz.load()
    x = vz.preprocess(vz.sample_image("chelsea"), model)
    with torch.no_grad():
        model(x)
    rows = []

    def bare():
        with torch.no_grad():
            model(x)

    forward = median_ms(bare, 20)
    rows.append(("bare forward pass (224 px)", forward, ""))
    predict = median_ms(lambda: vz.predict(model, x), 20)
    rows.append(("vz.predict (top-5)", predict, f"{predict / forward:.2f}x forward (target <= 1.5x)"))

    explorer = FeatureMapExplorer(model, x)
    explorer.widget  # build the controls
    layers = explorer.layer.options
    state = {"c": 0}

    def channel_change():
        state["c"] = (state["c"] + 1) % 16
        explorer.channel.value = state["c"]

    rows.append(("explorer: channel change (first layer, 112x112)", median_ms(channel_change, 30), "target <= 30 ms"))
    explorer.channel.value = -1
    explorer.layer.value = layers[-1]
    first_views = []
    for name in layers:  # every layer's grid drawn for the first time (nothing cached)
        t = time.perf_counter()
        explorer.layer.value = name
        first_views.append((time.perf_counter() - t) * 1000)
    rows.append(("explorer: layer change, grid, first view (median)", statistics.median(first_views),
                 "target <= 100 ms"))
    rows.append(("explorer: layer change, grid, first view (worst layer)", max(first_views), ""))
    rows.append(("explorer: new photo (one forward, all layers)",
                 median_ms(lambda: setattr(explorer, "image", x), 5), ""))

    starts = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", STARTUP], capture_output=True, text=True, check=True)
        starts.append(float(out.stdout.strip()) * 1000)
    rows.append(("import vizlab + load + first prediction", statistics.median(starts),
                 "target <= 2000 ms (torch import excluded)"))

    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'median ms':>10}  note")
    for name, ms, note in rows:
        print(f"{name:<{width}}  {ms:>10.1f}  {note}")


if __name__ == "__main__":
    main()
