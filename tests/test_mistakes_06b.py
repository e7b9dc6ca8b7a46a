"""Chapter 06b's exercises: plausible mistakes fail their check, with the exercise's hint (issue 18, item 2).

Each row replaces one solution by a plausible wrong one (the mistake a student makes when the idea is missing)
and runs the chapter's exercise section in this process (tests/test_gaming.py's runner): the check cell must
raise, and its message must carry the hint's key concept. The instructor's solutions pass, the student
version (solutions not written) fails with "not done yet".
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_gaming_helpers_06b", HERE / "test_gaming.py")
G = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(G)
S = G.S

CHAPTER = "06b_score_cam_layer_cam"

# (check cell's grade_id, mistake, replacement solution, a phrase of the hint the message must carry)
MISTAKES = [
    ("ex06b_1_check", "probability instead of logit", '''
def score_cam(model, x, target):
    A, _ = activations_and_gradients(model, x, target)
    H = F.interpolate(A, size=x.shape[-2:], mode="bilinear", align_corners=False)
    lo, hi = H.amin(dim=(2, 3), keepdim=True), H.amax(dim=(2, 3), keepdim=True)
    H = (H - lo) / (hi - lo + 1e-8)
    with torch.no_grad():
        scores = torch.stack([model(x * H[:, k:k + 1]).softmax(dim=1)[:, target] for k in range(A.shape[1])], dim=1)
    return F.relu((scores.softmax(dim=1)[:, :, None, None] * A).sum(dim=1))
''', "logits"),
    ("ex06b_1_check", "softmax over the batch, not the channels", '''
def score_cam(model, x, target):
    A, _ = activations_and_gradients(model, x, target)
    H = F.interpolate(A, size=x.shape[-2:], mode="bilinear", align_corners=False)
    lo, hi = H.amin(dim=(2, 3), keepdim=True), H.amax(dim=(2, 3), keepdim=True)
    H = (H - lo) / (hi - lo + 1e-8)
    with torch.no_grad():
        scores = torch.stack([model(x * H[:, k:k + 1])[:, target] for k in range(A.shape[1])], dim=1)
    return F.relu((scores.softmax(dim=0)[:, :, None, None] * A).sum(dim=1))
''', "over the channels"),
    ("ex06b_1_check", "masks min-maxed over the whole batch", '''
def score_cam(model, x, target):
    A, _ = activations_and_gradients(model, x, target)
    H = F.interpolate(A, size=x.shape[-2:], mode="bilinear", align_corners=False)
    lo, hi = H.amin(dim=(0, 2, 3), keepdim=True), H.amax(dim=(0, 2, 3), keepdim=True)
    H = (H - lo) / (hi - lo + 1e-8)
    with torch.no_grad():
        scores = torch.stack([model(x * H[:, k:k + 1])[:, target] for k in range(A.shape[1])], dim=1)
    return F.relu((scores.softmax(dim=1)[:, :, None, None] * A).sum(dim=1))
''', "each image's own channels"),
    ("ex06b_2_check", "minus the positive part (all zero after the ReLU)", '''
def layer_cam_against(model, x, target):
    A, G = activations_and_gradients(model, x, target)
    return F.relu((-F.relu(G) * A).sum(dim=1))
''', "positive part of the gradient"),
    ("ex06b_2_check", "signed gradient, no inner ReLU", '''
def layer_cam_against(model, x, target):
    A, G = activations_and_gradients(model, x, target)
    return F.relu((-G * A).sum(dim=1))
''', "positive part of the gradient"),
    ("ex06b_2_check", "the evidence for the class (plain LayerCAM)", '''
def layer_cam_against(model, x, target):
    A, G = activations_and_gradients(model, x, target)
    return F.relu((F.relu(G) * A).sum(dim=1))
''', "the gradient of -S"),
    ("ex06b_3_check", "mean instead of the per-pixel maximum", '''
def fused_layer_cam(model, x, target):
    maps = []
    for name in layers:
        A, G = activations_and_gradients(model, x, target, name)
        m = F.relu((F.relu(G) * A).sum(dim=1, keepdim=True))
        m = F.interpolate(m, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        lo, hi = m.amin(dim=(1, 2), keepdim=True), m.amax(dim=(1, 2), keepdim=True)
        maps.append((m - lo) / (hi - lo))
    return torch.stack(maps).mean(dim=0)
''', "per-pixel maximum"),
    ("ex06b_3_check", "min-max over the whole batch", '''
def fused_layer_cam(model, x, target):
    maps = []
    for name in layers:
        A, G = activations_and_gradients(model, x, target, name)
        m = F.relu((F.relu(G) * A).sum(dim=1, keepdim=True))
        m = F.interpolate(m, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        maps.append((m - m.min()) / (m.max() - m.min()))
    return torch.stack(maps).amax(dim=0)
''', "for each image separately"),
    ("ex06b_3_check", "min-max before upsampling", '''
def fused_layer_cam(model, x, target):
    maps = []
    for name in layers:
        A, G = activations_and_gradients(model, x, target, name)
        m = F.relu((F.relu(G) * A).sum(dim=1, keepdim=True))
        lo, hi = m.amin(dim=(2, 3), keepdim=True), m.amax(dim=(2, 3), keepdim=True)
        m = (m - lo) / (hi - lo)
        maps.append(F.interpolate(m, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0])
    return torch.stack(maps).amax(dim=0)
''', "bring each to the input's size, then to [0, 1]"),
    ("ex06b_4_check", "control left out (own class against itself)", '''
def class_specificity(model, x, y):
    def correlation(a, b):
        a, b = a.flatten(1), b.flatten(1)
        a, b = a - a.mean(dim=1, keepdim=True), b - b.mean(dim=1, keepdim=True)
        return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1))
    gb = correlation(guided_backprop(model, x, y).abs().sum(dim=1), guided_backprop(model, x, y).abs().sum(dim=1))
    gc = correlation(vz.grad_cam(model, x, y), vz.grad_cam(model, x, y))
    return gb.mean(), gc.mean()
''', "against its control class"),
    ("ex06b_4_check", "cosine without centring", '''
def class_specificity(model, x, y):
    other = (y + 1) % 10
    def correlation(a, b):
        a, b = a.flatten(1), b.flatten(1)
        return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1))
    gb = correlation(guided_backprop(model, x, y).abs().sum(dim=1), guided_backprop(model, x, other).abs().sum(dim=1))
    gc = correlation(vz.grad_cam(model, x, y), vz.grad_cam(model, x, other))
    return gb.mean(), gc.mean()
''', "centred on its mean"),
    ("ex06b_4_check", "one correlation over the whole batch", '''
def class_specificity(model, x, y):
    other = (y + 1) % 10
    def correlation(a, b):
        a, b = a.flatten(), b.flatten()
        a, b = a - a.mean(), b - b.mean()
        return (a * b).sum() / (a.norm() * b.norm())
    gb = correlation(guided_backprop(model, x, y).abs().sum(dim=1), guided_backprop(model, x, other).abs().sum(dim=1))
    gc = correlation(vz.grad_cam(model, x, y), vz.grad_cam(model, x, other))
    return gb, gc
''', "average over the digits"),
    ("ex06b_7_check", "sum instead of the mean over the covering windows", '''
def occlusion_map(model, x, target, window, stride):
    N, _, H, W = x.shape
    total, count = torch.zeros(N, H, W), torch.zeros(H, W)
    with torch.no_grad():
        clean = model(x)[:, target]
        for r in range(0, H - window + stride, stride):
            for c in range(0, W - window + stride, stride):
                covered = x.clone()
                covered[:, :, r:r + window, c:c + window] = 0.0
                total[:, r:r + window, c:c + window] += (clean - model(covered)[:, target])[:, None, None]
                count[r:r + window, c:c + window] += 1
    return total
''', "the mean of the drops"),
    ("ex06b_7_check", "windows stop before the edge", '''
def occlusion_map(model, x, target, window, stride):
    N, _, H, W = x.shape
    total, count = torch.zeros(N, H, W), torch.zeros(H, W)
    with torch.no_grad():
        clean = model(x)[:, target]
        for r in range(0, H - window, stride):
            for c in range(0, W - window, stride):
                covered = x.clone()
                covered[:, :, r:r + window, c:c + window] = 0.0
                total[:, r:r + window, c:c + window] += (clean - model(covered)[:, target])[:, None, None]
                count[r:r + window, c:c + window] += 1
    return total / count
''', "until one reaches the edge"),
    ("ex06b_7_check", "baseline in one colour channel", '''
def occlusion_map(model, x, target, window, stride):
    N, _, H, W = x.shape
    total, count = torch.zeros(N, H, W), torch.zeros(H, W)
    with torch.no_grad():
        clean = model(x)[:, target]
        for r in range(0, H - window + stride, stride):
            for c in range(0, W - window + stride, stride):
                covered = x.clone()
                covered[:, 0, r:r + window, c:c + window] = 0.0
                total[:, r:r + window, c:c + window] += (clean - model(covered)[:, target])[:, None, None]
                count[r:r + window, c:c + window] += 1
    return total / count
''', "every colour channel"),
    ("ex06b_7_check", "probability instead of the logit", '''
def occlusion_map(model, x, target, window, stride):
    N, _, H, W = x.shape
    total, count = torch.zeros(N, H, W), torch.zeros(H, W)
    with torch.no_grad():
        clean = model(x).softmax(dim=1)[:, target]
        for r in range(0, H - window + stride, stride):
            for c in range(0, W - window + stride, stride):
                covered = x.clone()
                covered[:, :, r:r + window, c:c + window] = 0.0
                total[:, r:r + window, c:c + window] += (clean - model(covered).softmax(dim=1)[:, target])[:, None, None]
                count[r:r + window, c:c + window] += 1
    return total / count
''', "the logit (not the probability)"),
]


def run_with(gid: str, mistake_source: str | None = None, stub: bool = False) -> dict[str, str]:
    nb = S.load(S.NOTEBOOKS / f"{CHAPTER}.ipynb")
    if stub:
        nb = S.student_version(nb)

    def replace(check_gid, ns, defined):
        if check_gid == gid and mistake_source is not None:
            exec(compile(mistake_source, f"<mistake {gid}>", "exec"), ns)
    with G._restored_library():
        return G.run(nb, solution=replace)


@pytest.fixture(autouse=True)
def _restore_torch_rng():
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)


def test_instructor_passes_and_student_stub_fails():
    nb = S.load(S.NOTEBOOKS / f"{CHAPTER}.ipynb")
    checks = [S.grading(c)["grade_id"] for c in nb["cells"] if S.is_check(c)]
    assert run_with("") == {gid: "passed" for gid in checks}
    stub = run_with("", stub=True)
    assert all(stub[gid].startswith("failed") and "not done yet" in stub[gid] for gid in checks), stub


def test_every_exercise_has_two_or_more_mistakes():
    nb = S.load(S.NOTEBOOKS / f"{CHAPTER}.ipynb")
    checks = {S.grading(c)["grade_id"] for c in nb["cells"] if S.is_check(c)}
    counts = {gid: sum(row[0] == gid for row in MISTAKES) for gid in checks}
    assert all(n >= 2 for n in counts.values()), counts


@pytest.mark.parametrize("gid, mistake, source, concept", MISTAKES, ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_plausible_mistake_fails_with_the_hint(gid, mistake, source, concept):
    results = run_with(gid, source)
    got = results[gid]
    assert got.startswith("failed"), f"{mistake}: the check passed"
    assert "Hint:" in got and "".join(concept.split()) in "".join(got.split()), got     # lines wrap at spaces and hyphens
