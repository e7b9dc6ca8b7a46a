"""Chapter 02's exercises against plausible mistakes (issue 18, item 2): each named mistake fails its check with the
hint's key concept in the message; the instructor's solutions pass and the student stub fails. The runner is
tests/test_mistakes_01.py's."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

_spec = importlib.util.spec_from_file_location("_mistakes_01", Path(__file__).resolve().parent / "test_mistakes_01.py")
M = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(M)

CHAPTER = "02_deconvnet"

_OVERLAP = '''
def channel_overlap(model, x, deep, shallow):
    def overlap(xi, block):
        layer = f"relu{block}"
        a = vz.capture(model, xi, layer)[layer][0]
        top = a.flatten(1).amax(1).argsort(descending=True)[:3].tolist()
        p = torch.stack([PROJECT for c in top])
        p = p - p.mean(1, keepdim=True)
        p = p / (p.norm(dim=1, keepdim=True) + 1e-12)
        r = p @ p.T
        return (r[0, 1] + r[0, 2] + r[1, 2]) / 3
    d = torch.stack([overlap(x[i:i + 1], deep) for i in range(len(x))]).mean()
    s = torch.stack([overlap(x[i:i + 1], shallow) for i in range(len(x))]).mean()
    return d, s, VERDICT
'''
_DECONVNET = 'vz.neuron_gradient(model, xi, layer, c, rule="deconvnet", position="max").abs().flatten()'

MISTAKES = [
    ("ex02_1_check", "overlapping windows overwrite instead of adding up", '''
def maxpool_backward(x, g):
    _, switches = F.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    n, c, h, w = x.shape
    out = torch.zeros(n, c, h * w, dtype=g.dtype)
    out.scatter_(2, switches.flatten(2), g.flatten(2))
    return out.view(n, c, h, w)
''', "add up"),
    ("ex02_1_check", "gradient spread over the whole window (average pooling's backward)", '''
def maxpool_backward(x, g):
    ones = torch.full((x.shape[1], 1, 3, 3), 1 / 9)
    out = F.conv_transpose2d(g, ones, stride=2, padding=1, groups=x.shape[1])
    return F.pad(out, [0, x.shape[-1] - out.shape[-1], 0, x.shape[-2] - out.shape[-2]])
''', "position of its maximum"),
    ("ex02_1_check", "switches of the chapter's 2 x 2 pool", '''
def maxpool_backward(x, g):
    _, switches = F.max_pool2d(x, 2, return_indices=True, ceil_mode=True)
    n, c, h, w = x.shape
    out = torch.zeros(n, c, h * w, dtype=g.dtype)
    k = switches.shape[-1]
    out.scatter_add_(2, switches.flatten(2), g[..., :k, :k].flatten(2))
    return out.view(n, c, h, w)
''', "overlapping windows"),
    ("ex02_2_check", "ReLU's mask: the clipping at 6 forgotten", '''
def relu_backward(x, g, rule):
    mask = (x > 0).to(g.dtype)
    if rule == "backprop":
        return g * mask
    if rule == "deconvnet":
        return g.clamp(min=0)
    return g.clamp(min=0) * mask
''', "neither cut off nor clipped"),
    ("ex02_2_check", "guided backprop without the forward mask", '''
def relu_backward(x, g, rule):
    mask = ((x > 0) & (x < 6)).to(g.dtype)
    if rule == "backprop":
        return g * mask
    return g.clamp(min=0)
''', "guided backprop does both"),
    ("ex02_2_check", "deconvnet keeps the forward mask", '''
def relu_backward(x, g, rule):
    mask = ((x > 0) & (x < 6)).to(g.dtype)
    if rule == "backprop":
        return g * mask
    return g.clamp(min=0) * mask
''', "ignores that forward mask"),
    ("ex02_3_check", "the missing row and column padded with zeros", '''
def deconv_layer(r, x, conv):
    out = F.conv_transpose2d(F.relu(r), conv.weight, stride=conv.stride, padding=conv.padding)
    return F.pad(out, [0, x.shape[-1] - out.shape[-1], 0, x.shape[-2] - out.shape[-2]])
''', "sized to the input"),
    ("ex02_3_check", "the forward mask applied (the true gradient, not the deconvnet)", '''
def deconv_layer(r, x, conv):
    with torch.no_grad():
        pre = conv(x)
    mask = ((pre > 0) & (pre < 6)).float()
    return F.conv_transpose2d(r * mask, conv.weight, stride=2, padding=conv.padding, output_padding=1)
''', "ignores the forward mask"),
    ("ex02_3_check", "the stride forgotten", '''
def deconv_layer(r, x, conv):
    return F.conv_transpose2d(F.relu(r), conv.weight, padding=conv.padding)
''', "same weights and stride"),
    ("ex02_4_check", "the true gradient instead of the deconvnet rule", _OVERLAP.replace("PROJECT", _DECONVNET.replace(
        "deconvnet", "backprop")).replace("VERDICT", "(d > s).float()"), "deconvnet rule"),
    ("ex02_4_check", "signed projections compared (not their size)", _OVERLAP.replace("PROJECT", _DECONVNET.replace(
        ".abs()", "")).replace("VERDICT", "(d > s).float()"), "|projection|"),
    ("ex02_4_check", "the claim assumed, not measured against the control", _OVERLAP.replace("PROJECT", _DECONVNET)
     .replace("VERDICT", "torch.tensor(1.0)"), "control block"),
]


@pytest.fixture(autouse=True)
def _restore_torch_rng():
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


def test_solutions_pass_and_stubs_fail():
    M.assert_solutions(CHAPTER)


def test_every_exercise_has_two_or_three_mistakes():
    nb = M.S.load(M.S.NOTEBOOKS / f"{CHAPTER}.ipynb")
    checks = [M.S.grading(c)["grade_id"] for c in nb["cells"] if M.S.is_check(c)]
    counts = {gid: sum(row[0] == gid for row in MISTAKES) for gid in checks}
    assert all(2 <= n <= 3 for n in counts.values()), counts


@pytest.mark.parametrize("gid, mistake, replacement, phrase", MISTAKES, ids=[f"{r[0]}: {r[1]}" for r in MISTAKES])
def test_mistake_fails_with_the_hint(gid, mistake, replacement, phrase):
    M.assert_mistake_fails(CHAPTER, gid, replacement, phrase)
