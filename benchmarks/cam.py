"""CAM speed against the reference libraries, measured in the same process.

    .venv/bin/python benchmarks/cam.py [--repeats 5] [--score-layer blocks.15] [--score-repeats 3]

Default model (EfficientNet-Lite0), chelsea at 224 px, class "Egyptian cat". Every time is the
median of ``--repeats`` runs after one warm-up run; ratios are taken within this run, so a busy
machine slows both sides alike (run it on a quiet machine for absolute numbers).

Targets (issue 4): grad_cam <= 1.15 x one forward+backward pass and <= 1.0 x pytorch-grad-cam's
GradCAM; score_cam <= 1.0 x pytorch-grad-cam's ScoreCAM at the same layer (default: the head,
1280 channels; both in chunks of 16 masked images; vizlab runs one pass for all dead channels, so
it needs 465 passes there on this photo, pytorch-grad-cam 1280); ``vizlab explain`` with three
methods <= 5 s end to end, start-up included. ``--threads 1`` gives steadier numbers on a busy
2-core machine.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import vizlab as vz
from vizlab import cam as C


def median_time(fn, repeats: int, warm_up: bool = True) -> float:
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--score-layer", default="head")
    parser.add_argument("--score-repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from pytorch_grad_cam import GradCAM, ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(0)
    model = vz.load()
    x = vz.preprocess(vz.sample_image("chelsea"), model)
    c = vz.class_index(model, "Egyptian cat")
    head = vz.find_layer(model, "head")
    targets = [ClassifierOutputTarget(c)]

    def forward_backward():
        xi = x.detach().requires_grad_(True)
        torch.autograd.grad(model(xi)[0, c], xi)

    def pgc_grad_cam():
        with GradCAM(model=model, target_layers=[head]) as extractor:
            extractor(input_tensor=x, targets=targets)
        model.zero_grad(set_to_none=True)

    def pgc_score_cam():
        with ScoreCAM(model=model, target_layers=[vz.find_layer(model, args.score_layer)]) as extractor:
            extractor.batch_size = 16
            with contextlib.redirect_stderr(io.StringIO()):  # its tqdm progress bars
                extractor(input_tensor=x, targets=targets)

    rows = []
    t_fb = median_time(forward_backward, args.repeats)
    t_gc = median_time(lambda: C.grad_cam(model, x, c), args.repeats)
    t_pgc = median_time(pgc_grad_cam, args.repeats)
    rows.append(("forward + backward (input gradient)", t_fb, "", "", ""))
    rows.append(("vizlab grad_cam", t_gc, f"{t_gc / t_fb:.2f} x fwd+bwd", "<= 1.15", t_gc / t_fb <= 1.15))
    rows.append(("pytorch-grad-cam GradCAM", t_pgc, "", "", ""))
    rows.append(("vizlab grad_cam vs GradCAM", t_gc, f"{t_gc / t_pgc:.2f} x pgc", "<= 1.0", t_gc / t_pgc <= 1.0))
    for name in ("cam", "grad_cam_pp", "layer_cam"):
        t = median_time(lambda: C.get_method(name)(model, x, c), args.repeats)
        rows.append((f"vizlab {name}", t, f"{t / t_fb:.2f} x fwd+bwd", "", ""))

    # no warm-up run for Score-CAM: the model is warm, and one run is hundreds of passes
    t_sc = median_time(lambda: C.score_cam(model, x, c, args.score_layer, batch_size=16), args.score_repeats, False)
    t_psc = median_time(pgc_score_cam, args.score_repeats, False)
    k = vz.capture(model, x, args.score_layer)[args.score_layer].shape[1]
    rows.append((f"pytorch-grad-cam ScoreCAM @{args.score_layer} ({k} ch)", t_psc, "", "", ""))
    rows.append((f"vizlab score_cam @{args.score_layer} ({k} ch)", t_sc, f"{t_sc / t_psc:.2f} x pgc", "<= 1.0",
                 t_sc / t_psc <= 1.0))

    exe = Path(sys.executable).with_name("vizlab")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "vizlab.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "fig.png")
        run = [*cmd, "explain", "chelsea", "--method", "grad_cam", "grad_cam_pp", "layer_cam", "--out", out]

        def explain():
            subprocess.run(run, check=True, capture_output=True)
        t_cli = median_time(explain, max(1, args.repeats // 2))
    rows.append(("vizlab explain, 3 methods, end to end", t_cli, "", "<= 5 s", t_cli <= 5.0))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load:.1f}; "
          f"EfficientNet-Lite0, 224 px, median of {args.repeats} (Score-CAM {args.score_repeats}, no warm-up)")
    print(f"{'measurement':<44} {'seconds':>8}  {'ratio':<18} {'target':<8} ok")
    for name, t, ratio, target, ok in rows:
        flag = "" if ok == "" else ("yes" if ok else "NO")
        print(f"{name:<44} {t:>8.3f}  {ratio:<18} {target:<8} {flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
