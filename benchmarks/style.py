"""Style transfer: the cost of one optimisation step against its floor, in one process.

    .venv/bin/python benchmarks/style.py [--size 256] [--repeats 5] [--threads 1]

The floor of a step is one forward + backward of the feature network (the layers the losses read,
forward stopped after the deepest one; gradient w.r.t. the pixels only): a step must also compute
the Gram matrices, the losses and the L-BFGS update, and should cost little more (target <= 1.15x).
The pitfall row recomputes the targets inside the loop, as naive code does (two more forwards per
step). The last rows time the chapter's default Lite0 transfer end to end. CPU time per call,
medians of interleaved repeats. "One step" is one call of the library's loop
(``vizlab.optvis.render.ascend`` with L-BFGS, exactly what ``style.transfer`` runs), checks included.

What a step adds beyond the floor is mostly the Gram matrices: ``G = F F^T`` and its backward
``(dG + dG^T) F`` cost ``2 C^2 HW`` multiply-adds per style layer. On VGG-19 that is a few per cent of the
network; on Lite0 the expansion layers are wide (96-480 channels) while the depthwise-separable network
itself is cheap, so the Gram matrices alone cost about half of its forward + backward -- the ratio there
is set by the loss, not by overhead. The column "floor + Gram" times that pass with the Gram products
added (``sum_l sum G_l``, so forward and backward do both matrix products; for SWAG, of the softmaxed
features) and nothing else: a step's cost
beyond it (the losses' element-wise work, the total variation, the L-BFGS update, the checks) is the
overhead the library adds, target <= 1.15x.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import vizlab as vz
from vizlab import style as st
from vizlab.hooks import eval_mode, preserve_state
from vizlab.optvis import param as P
from vizlab.optvis.objectives import Objective
from vizlab.optvis.render import ascend, forward_objective, make_optimizer


def cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def setup(model, size, transform):
    content_layer, style_layers = st.default_layers(model)
    c, s = st.pixels("chelsea", size), st.pixels("coffee", size)
    layers = style_layers + [content_layer]
    with torch.no_grad():
        targets = [st.gram_matrix(f) for f in st.features(model, s, style_layers, transform)]
        content_target = st.features(model, c, [content_layer], transform)[0]
    weights = [10.0 / float((a ** 2).sum()) for a in targets]
    objective = st.style_objective(content_target, targets, content_layer, style_layers,
                                   1.0 / float((content_target ** 2).sum()), weights, 1e-3, transform)
    floor_obj = Objective(lambda acts: sum(acts[n].sum() for n in layers).reshape(1), "floor", layers=layers)
    # the same pass plus what the style loss cannot do without: G = F F^T per style layer (of the transformed
    # features, for SWAG) and its backward
    act = st._transform(transform)
    gram_obj = Objective(lambda acts: (sum(st.gram_matrix(act(acts[n])).sum() for n in style_layers)
                                       + acts[content_layer].sum()).reshape(1), "floor + Gram", layers=layers)
    return c, s, objective, floor_obj, gram_obj, style_layers, content_layer


def bench(name, model, size, repeats, transform=None):
    with preserve_state(model), eval_mode(model):
        for p in model.parameters():
            p.requires_grad_(False)
        c, s, objective, floor_obj, gram_obj, style_layers, content_layer = setup(model, size, transform)
        image = P.pixels(size, init=c, valid="clip")
        opt = make_optimizer("lbfgs", image.parameters(), 1.0)   # what transfer uses
        ident = lambda x, g: x  # noqa: E731

        def step():  # one step of the library's own loop (render's, which transfer runs), checks included
            ascend(model, objective, image, opt, ident, 1, None)

        def floor(obj=floor_obj):
            x = c.clone().requires_grad_(True)
            torch.autograd.grad(forward_objective(model, obj, x, ident, None).sum(), x)

        def floor_gram():
            floor(gram_obj)

        def naive():  # the targets recomputed inside the loop: two more forward passes per step
            with torch.no_grad():
                st.features(model, s, style_layers, transform)
                st.features(model, c, [content_layer], transform)
            step()

        step(), floor()  # warm-up
        times = {"floor": [], "gram": [], "step": [], "naive": []}
        for _ in range(repeats):
            for key, fn in (("floor", floor), ("gram", floor_gram), ("step", step), ("naive", naive)):
                times[key].append(cpu(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"| {name} | {size} | {med['floor'] * 1e3:.0f} | {med['gram'] * 1e3:.0f} | {med['step'] * 1e3:.0f} | "
          f"{med['step'] / med['floor']:.2f}x | {med['step'] / med['gram']:.2f}x | {med['naive'] / med['floor']:.2f}x |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=60, help="steps of the end-to-end default run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lite0, vgg = vz.load(), st.random_vgg19(0)
    print("| network | px | floor: fwd+bwd (ms) | floor + Gram (ms) | one step (ms) | step / floor | "
          "step / (floor + Gram) | naive step / floor |")
    print("|---|---|---|---|---|---|---|---|")
    bench("Lite0", lite0, args.size, args.repeats)
    bench("Lite0 + SWAG", lite0, args.size, args.repeats, "softmax")
    bench("random VGG-19", vgg, args.size, args.repeats)
    c, s = st.pixels("chelsea", args.size), st.pixels("coffee", args.size)
    holder = {}
    t = cpu(lambda: holder.update(out=st.transfer(lite0, c, s, steps=args.steps, progress=False)))
    hist = holder["out"][1]
    print(f"\nLite0 default transfer at {args.size} px, {args.steps} L-BFGS steps: {t:.1f} s CPU "
          f"(style loss {hist['style'][0]:.3g} -> {hist['style'][-1]:.3g}, "
          f"-{1 - hist['style'][-1] / hist['style'][0]:.0%})")


if __name__ == "__main__":
    main()
