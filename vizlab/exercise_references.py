"""The references of the chapters' graded exercises that are more than a call of a function the chapter teaches.

A check cell compares the student's function with a reference (``vizlab.exercises.check``). Where the reference is
a library function the chapter already teaches (``st.gram_matrix``), the check cell names it. Where it had to be
written out (a loop, a formula no library function computes, an experiment and its control), it lives here rather
than in the check cell, so that the student version -- which keeps check cells unchanged -- does not print the answer
right below the exercise. The check cell imports this module itself::

    from vizlab import exercise_references as _refs
    _check("texture_steps", texture_steps, _refs.ex11_8_texture_steps, cases, ...)

One function per exercise, named after the exercise's grade id. The grader forbids, while the student's function
runs, the reference and the vizlab functions that the *check cell's* code calls directly; the library functions one
of these references calls are library-internal to it, so the check cell names them in ``forbid=`` (each function's
docstring says which), and ``allow=`` keeps the helpers an exercise hands out usable, exactly as when the reference
sat in the check cell.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import attribution as A
from . import cam as _cam
from . import digits as _digits
from . import embed as _E
from . import evaluate as ev
from . import optvis
from . import style as st
from .adversarial import pgd
from .attribution import grad_x_input, guided_backprop, integrated_gradients, saliency, smoothgrad
from .features import layer_statistics
from .cam import grad_cam, grad_cam_pp, layer_cam
from .hooks import capture
from .optvis import objectives as O, param as P, transforms as T
from .perturbation import occlusion

__all__ = ["ex01_1_layer_io", "ex01_3_similarity_matrix", "ex01_4_sparsity_growth",
           "ex02_1_maxpool_backward", "ex02_2_relu_backward", "ex02_3_deconv_layer", "ex02_4_channel_overlap",
           "ex03_1_contrastive_saliency", "ex03_2_first_order_gap", "ex03_4_class_sensitivity",
           "ex04_1_ascent_step", "ex04_2_jitter_each", "ex04_3_tv2_grad", "ex04_6_ascent_vs_digits",
           "ex05_1_cam_maps", "ex05_1_cam_maps_by_hand", "ex05_2_score_without", "ex05_6_cam_localisation",
           "ex06_1_contrast_grad_cam", "ex06_2_grad_cam_pp_T", "ex06_6_gradient_spread",
           "ex06b_2_layer_cam_against", "ex06b_4_class_specificity",
           "ex07_1_noisy_copies", "ex07_4_run_agreement",
           "ex08_1_gauss_legendre", "ex08_4_completeness_errors",
           "ex12_1_deletion_aucs", "ex12_6_sanity_experiment",
           "ex09_6_cluster_vs_control", "ex10_6_attack_vs_noise",
           "ex11_7_masked_gram", "ex11_8_texture_steps", "ex11_9_gram_experiment"]


# -- chapter 01: feature maps ----------------------------------------------------------------------------------

def ex01_1_layer_io(m, x, name):
    """The input and the output of layer ``name`` of a Sequential (its input is the previous layer's output),
    after checking no hook was left on ``m``. Check cell: ``forbid=[vz.capture]``."""
    assert not any(k._forward_hooks or k._forward_pre_hooks for k in m.modules()), \
        "layer_io: a hook was left on the model -- remove every hook you registered, also when the model raises"
    before = str(int(name) - 1)
    maps = capture(m, x, [before, name])
    return maps[before], maps[name]


def ex01_3_similarity_matrix(m):
    """Pearson correlation between the photos' channel profiles (each map's spatial mean)."""
    return torch.corrcoef(m.mean(dim=(2, 3)))


def ex01_4_sparsity_growth(m, control, x, early, late):
    """Growth of the ReLU sparsity from ``early`` to ``late`` for the trained network and for the random-weights
    control, and 1.0 if the first is larger. Check cell: ``forbid=[vz.layer_statistics, vz.features.sparsity]``."""
    def growth_of(net):
        first, last = layer_statistics(net, x, [early, late])
        return last.sparsity - first.sparsity
    growth, control_growth = growth_of(m), growth_of(control)
    return growth, control_growth, float(growth > control_growth)


# -- chapter 02: deconvnet --------------------------------------------------------------------------------------

def ex02_1_maxpool_backward(x, g):
    """The gradient ``g`` sent back through max-pooling 3x3, stride 2, padding 1, by autograd."""
    xg = x.clone().requires_grad_(True)
    return torch.autograd.grad(F.max_pool2d(xg, 3, stride=2, padding=1), xg, g)[0]


def ex02_2_relu_backward(x, g, rule):
    """``g`` sent back through a ReLU6 under ``A.relu_rule(rule)``. Check cell: ``forbid=[A.relu_rule, ...]``."""
    relu, xg = nn.Sequential(nn.ReLU6()), x.clone().requires_grad_(True)
    with A.relu_rule(relu, rule):
        return torch.autograd.grad(relu(xg), xg, g)[0]


def ex02_3_deconv_layer(r, x, conv):
    """The deconvnet's way back through ``conv`` + ReLU6 for the signal ``r``. Check cell:
    ``forbid=[A.relu_rule, ...]``."""
    block = nn.Sequential(conv, nn.ReLU6())
    xg = x.clone().requires_grad_(True)
    with A.relu_rule(block, "deconvnet"):
        (grad,) = torch.autograd.grad((block(xg) * r).sum(), xg)
    return grad


def ex02_4_channel_overlap(m, x, deep, shallow):
    """Mean pairwise correlation of the deconvnet projections' sizes of each digit's three strongest channels,
    at block ``deep`` and at the control block ``shallow``, and 1.0 if the first is larger.
    Check cell: ``forbid=[digits.zeiler_fergus]``, ``allow=[vz.capture, Captured.__getitem__, vz.neuron_gradient]``."""
    def overlap(xi, block):
        a = capture(m, xi, f"relu{block}")[f"relu{block}"][0]
        top = a.flatten(1).amax(1).argsort(descending=True)[:3].tolist()
        c = torch.corrcoef(torch.stack([_digits.zeiler_fergus(m, xi, block, k)[0].abs().flatten() for k in top]))
        return float(c[0, 1] + c[0, 2] + c[1, 2]) / 3
    d = sum(overlap(x[i:i + 1], deep) for i in range(len(x))) / len(x)
    s = sum(overlap(x[i:i + 1], shallow) for i in range(len(x))) / len(x)
    return d, s, float(d > s)


# -- chapter 03: saliency and guided backprop -------------------------------------------------------------------

def ex03_1_contrastive_saliency(m, x, t, o):
    """Saliency of the logit difference S_t - S_o, the largest |value| over the colour channels.
    Check cell: ``forbid=[A.abs_max, vz.saliency]``."""
    return A.abs_max(saliency(m, x, t) - saliency(m, x, o))


def ex03_2_first_order_gap(m, x, t, b):
    """True change of logit t from baseline ``b`` to ``x`` minus its first-order estimate grad(x) . (x - b).
    Check cell: ``forbid=[vz.grad_x_input, vz.saliency]``."""
    with torch.no_grad():
        change = m(x)[:, t] - m(b)[:, t]
    return change - (grad_x_input(m, x, t) - b * saliency(m, x, t)).sum(dim=(1, 2, 3))


def ex03_4_class_sensitivity(m, x):
    """Mean Spearman correlation, per digit, of the maps for the top class and the next class, for guided
    backprop and for the plain gradient (control), and 1.0 if the first is larger. Check cell:
    ``forbid=[ev.spearman, ...]``, ``allow=[vz.saliency, vz.guided_backprop, A.abs_max]``."""
    with torch.no_grad():
        top = m(x).argmax(1)
    means = []
    for method in (guided_backprop, saliency):
        a, b = A.abs_max(method(m, x, top.tolist())), A.abs_max(method(m, x, ((top + 1) % 10).tolist()))
        means.append(sum(ev.spearman(a[i], b[i]) for i in range(len(x))) / len(x))
    return means[0], means[1], float(means[0] > means[1])


# -- chapter 04: filter ascent ----------------------------------------------------------------------------------

def ex04_1_ascent_step(x, grad, lr):
    """One step of ``optvis.NormalizedAscent`` up the gradient (``render`` stores -gradient: torch optimisers
    minimise). Check cell: ``forbid=[optvis.NormalizedAscent]``."""
    p = x.clone()
    p.grad = -grad
    optvis.NormalizedAscent([p], lr=lr).step()
    return p


def ex04_2_jitter_each(x, d, offsets):
    """Each image cropped at its own offset with ``T.shift_crop``. Check cell: ``forbid=[T.shift_crop]``."""
    return torch.stack([T.shift_crop(x[n:n + 1], d, int(dx), int(dy))[0] for n, (dx, dy) in enumerate(offsets)])


def ex04_3_tv2_grad(x):
    """The gradient of the squared total variation (``O.total_variation(beta=2)``) by autograd.
    Check cell: ``forbid=[O.total_variation, ...autograd]``."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(O.total_variation(beta=2)({"image": x}).sum(), x)
    return g


def ex04_6_ascent_vs_digits(model, layer, c, x0, steps, lr, digits):
    """The channel's mean after ``steps`` normalised ascent steps from ``x0`` (the measure) and the largest mean
    over the real ``digits`` (the control). Check cell: ``forbid=[optvis.render, O.channel, P.pixels]``,
    ``allow=[vz.capture]``."""
    image, _ = optvis.render(model, O.channel(layer, c), param=P.pixels(0, init=x0, valid=None), transforms=[],
                             steps=steps, optimizer="normalized", lr=lr, progress=False)
    acts = capture(model, torch.cat([image.mean(1, keepdim=True), digits]), layer)[layer][:, c].mean(dim=(1, 2))
    return acts[0], acts[1:].max()


# -- chapter 05: CAM --------------------------------------------------------------------------------------------

def ex05_1_cam_maps(m, x, classes, layer):
    """One raw CAM per class (no ReLU, no upsampling), classes as axis 1. Check cell: ``forbid=[vz.cam.cam]``."""
    return torch.stack([_cam.cam(m, x, c, layer=layer, relu=False, upsample=False) for c in classes], dim=1)


def ex05_1_cam_maps_by_hand(m, x, classes, layer):
    """The same maps without ``vz.cam.cam``: what later checks put in place of the student's ``cam_maps``
    (``uses=``), where ``vz.cam.cam`` may be forbidden."""
    body = m[:[name for name, _ in m.named_children()].index(layer) + 1]
    return torch.einsum("ck,nkhw->nchw", m[-1].weight.detach()[list(classes)], body(x).detach())


def ex05_2_score_without(m, x, c, drop):
    """Class ``c``'s logit with the features at ``drop`` switched off (GAP + classifier on what is left)."""
    with torch.no_grad():
        return m[4:](m[:4](x) * ~drop)[:, c]


def ex05_6_cam_localisation(model, control, left, right, y_left, y_right):
    """Mean share of each digit's own-class CAM (ReLU'd) that falls on that digit's half of a two-digit canvas,
    for the model (measure) and for random weights (control). Check cell: ``forbid=[vz.cam.cam]``."""
    canvas, result = torch.cat([left, right], dim=3), []
    for net in (model, control):
        shares = []
        for n in range(len(canvas)):
            for k, side in ((int(y_left[n]), 0), (int(y_right[n]), 1)):
                m = _cam.cam(net, canvas[n:n + 1], k, layer="relu3", upsample=False)[0]
                half = m.shape[-1] // 2
                shares.append((m[:, :half] if side == 0 else m[:, half:]).sum() / m.sum().clamp_min(1e-12))
        result.append(torch.stack(shares).mean())
    return result[0], result[1]


# -- chapter 06: Grad-CAM ----------------------------------------------------------------------------------------

def ex06_1_contrast_grad_cam(m, x, a, b, layer):
    """Grad-CAM of the contrast S_a - S_b ("a rather than b"). Check cell: ``forbid=[vz.grad_cam]``."""
    return grad_cam(m, x, lambda out: out[:, a] - out[:, b], layer, upsample=False)


def ex06_2_grad_cam_pp_T(m, x, t, T, layer):
    """Grad-CAM++ of exp((S - S0) / T): each derivative brings a factor 1/T. Check cell: ``forbid=[vz.grad_cam_pp]``."""
    return grad_cam_pp(m, x, t, layer, upsample=False, output_fn=lambda s: torch.exp((s - s.detach()) / T))


def ex06_6_gradient_spread(model, control, x, y):
    """Median over images and channels of the spread of relu3's gradient over positions (std / mean size), for
    the model (measure) and for its GAP + linear head (control). Check cell: ``allow=[vz.capture]``."""
    values = []
    for net in (model, control):
        G = capture(net, x, "relu3", target=y, gradients=True).gradients["relu3"].flatten(2)
        values.append(torch.median(torch.std(G, dim=2) / G.abs().mean(dim=2).clamp_min(1e-20)))
    return values[0], values[1]


# -- chapter 06b: Score-CAM and LayerCAM ------------------------------------------------------------------------

def ex06b_2_layer_cam_against(m, x, t, layer):
    """LayerCAM of the counterfactual score -S_t. Check cell: ``forbid=[vz.layer_cam]``."""
    return layer_cam(m, x, lambda logits: -logits[:, t], layer, upsample=False)


def ex06b_4_class_specificity(model, x, y):
    """Mean Pearson correlation, over the digits, between the map of the digit's class and that of class y + 1,
    for guided backprop (|.| summed over channels) and for Grad-CAM. Check cell: ``allow=[vz.grad_cam,
    guided_backprop]`` (nothing else to forbid)."""
    def mean_correlation(a, b):
        return torch.stack([torch.corrcoef(torch.stack([p.flatten(), q.flatten()]))[0, 1] for p, q in zip(a, b)]).mean()
    other = (y + 1) % 10
    return (mean_correlation(guided_backprop(model, x, y).abs().sum(1), guided_backprop(model, x, other).abs().sum(1)),
            mean_correlation(grad_cam(model, x, y), grad_cam(model, x, other)))


# -- chapter 07: SmoothGrad --------------------------------------------------------------------------------------

def ex07_1_noisy_copies(x, samples, noise, seed):
    """The ``samples`` noisy copies SmoothGrad draws (``A.noisy_attributions`` with an "attribution" that returns
    its input), shape ``[samples, *x.shape]``. Check cell: ``forbid=[A.noisy_attributions]``."""
    def keep(model, batch, target):
        return batch
    drawn = A.noisy_attributions(keep, None, x, 0, samples=samples, noise=noise,
                                 generator=torch.Generator().manual_seed(seed))
    return torch.stack([copy for _, _, copy in drawn]).reshape(samples, *x.shape)


def ex07_4_run_agreement(model, x, y, samples):
    """Mean Pearson correlation over the digits between two SmoothGrad runs (seeds 1 and 2, |.| max over the
    channels) with ``samples`` samples (measure) and with one (control). Check cell: ``forbid=[torch.corrcoef,
    np.corrcoef]``, ``allow=[vz.smoothgrad, A.abs_max]``."""
    def agreement(n):
        a, b = (A.abs_max(smoothgrad(saliency, model, x, y, samples=n, noise=0.2,
                                     generator=torch.Generator().manual_seed(seed))) for seed in (1, 2))
        return torch.stack([torch.corrcoef(torch.stack([p.flatten(), q.flatten()]))[0, 1] for p, q in zip(a, b)]).mean()
    return agreement(samples), agreement(1)


# -- chapter 08: integrated gradients ---------------------------------------------------------------------------

def ex08_1_gauss_legendre(n):
    """Gauss-Legendre points and weights on [0, 1] (float64). Check cell: ``forbid=[A.quadrature]``."""
    return tuple(torch.tensor(v, dtype=torch.float64) for v in A.quadrature("gausslegendre", n))


def ex08_4_completeness_errors(model, x, y, steps):
    """Mean relative completeness error of IG from the black baseline, and of the control, gradient x input.
    Check cell: ``forbid=[vz.grad_x_input]``, ``allow=[vz.integrated_gradients]``."""
    attributions, delta = integrated_gradients(model, x, y, 0.0, steps=steps, return_delta=True)
    difference = attributions.sum(dim=(1, 2, 3)) - delta
    control = grad_x_input(model, x, y).sum(dim=(1, 2, 3)) - difference      # x' = 0: x - x' is x
    return (delta.abs() / difference.abs()).mean(), (control.abs() / difference.abs()).mean()


# -- chapter 09: t-SNE --------------------------------------------------------------------------------------------

def ex09_6_cluster_vs_control(model, control, xx, labels, layer):
    """Silhouette by class of the trained network's features at ``layer`` (measure) and of the random-weights
    control's (control). Check cell: ``forbid=[E.layer_features]``, ``allow=[E.silhouette]``."""
    return tuple(_E.silhouette(_E.layer_features(net, xx, layer), labels.numpy()) for net in (model, control))


# -- chapter 10: adversarial examples -----------------------------------------------------------------------------

def ex10_6_attack_vs_noise(m, xx, labels, e, signs):
    """Accuracy after one FGSM step of size ``e`` (one PGD step from the start) and after the same ``e`` spent on
    the random ``signs`` (control). Check cell: ``forbid=[vz.pgd]``, ``allow=[digits.accuracy]``."""
    return (_digits.accuracy(m, pgd(m, xx, labels, e, steps=1, step=e), labels),
            _digits.accuracy(m, (xx + e * signs).clamp(0, 1), labels))


# -- chapter 11: style transfer ---------------------------------------------------------------------------------

def ex11_7_masked_gram(f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Gram matrix with a weight per position: sum_p m_p F_ip F_jp / (C * sum_p m_p), per image.
    Check cell: ``forbid=[st.gram_matrix]``."""
    return st.gram_matrix(f * m[:, None].sqrt(), normalize=False) / (f.shape[1] * m.sum(dim=(1, 2))).view(-1, 1, 1)


def ex11_8_texture_steps(net, target, x0, steps, lr):
    """``steps`` steps of plain gradient descent on the pixels against the style loss of ``net(x)``.
    Check cell: ``forbid=[st.style_loss]``."""
    x = x0.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(st.style_loss([net(x)], [0], [target], [1.0]), x)
        x = (x - lr * grad).detach()
    return x


def ex11_9_gram_experiment(model, layer, x, perm, perms):
    """Relative change ||G' - G|| / ||G|| of the normalised Gram matrix (double precision) when all channels'
    positions are reordered alike (``perm``: the measure) and when each channel gets its own (``perms``: the control).
    Check cell: nothing to forbid (``capture``, ``Captured.__getitem__``, ``st.gram_matrix`` are handed out)."""
    A = capture(model, x, layer)[layer].double()
    F = A.reshape(A.shape[1], -1)
    G = st.gram_matrix(A)

    def change(F2):
        return (st.gram_matrix(F2.reshape(A.shape)) - G).norm() / G.norm()
    return torch.stack([change(F[:, perm]), change(F.gather(1, perms))])


# -- chapter 12: evaluating explanations ------------------------------------------------------------------------

def ex12_1_deletion_aucs(m, x, sm, t, s):
    """Areas under the deletion curves, most relevant pixels first and least relevant first (the ranking of -sm).
    Check cell: ``forbid=[vz.deletion, ev.auc]``."""
    curves = [ev.deletion(ranking[None], m, x, t, step=s, substrate=0.0)[0] for ranking in (sm, -sm)]
    return torch.stack([ev.auc(c) for c in curves])


def ex12_6_sanity_experiment(method, model, x, x_other, target, target_other):
    """Rank correlation of a digit's map before and after fc2 is re-initialised (measure) and of the trained
    model's maps of two different digits (control). Check cell: ``allow=[ev.explain, ev.randomize, ev.spearman]``."""
    _, randomised = next(ev.randomize(model, "fc2", generator=0))
    trained = ev.explain(method, model, x, target)[0]
    return torch.stack([torch.tensor(ev.spearman(trained, ev.explain(method, randomised, x, target)[0])),
                        torch.tensor(ev.spearman(trained, ev.explain(method, model, x_other, target_other)[0]))])


def ex06b_7_occlusion_map(m, x, t, window, stride):
    """Occlusion map ``[N, H, W]``: the mean drop of the logit of ``t`` over the windows covering each pixel,
    baseline 0. Check cell: ``forbid=[vz.occlusion]``."""
    return occlusion(m, x, t, window=window, stride=stride, baseline=0.0)[:, 0]
