"""Score-CAM's per-pass progress: the ``progress`` hook of vizlab.cam.score_cam and the
"k/K channels" line the CAM explorer shows (dimmed picture) while Score-CAM runs."""
from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from vizlab import cam as C
from vizlab.widgets._base import BUSY_CLASS

from conftest import assert_untouched, model_state


def cnn_with_dead_channels() -> nn.Module:
    """conv -> ReLU -> conv/2 -> BN -> ReLU ("relu2", 16 channels, 0-9 all zero) -> GAP -> linear(10)."""
    torch.manual_seed(7)
    net = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, 8, 3, padding=1), relu1=nn.ReLU(),
        conv2=nn.Conv2d(8, 16, 3, stride=2, padding=1), bn=nn.BatchNorm2d(16), relu2=nn.ReLU(),
        pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(16, 10))).eval()
    with torch.no_grad():
        net.bn.bias[:10] = -100.0       # channels 0-9 die: one shared pass stands for all ten
    return net


def test_score_cam_progress_counts_channels_per_batch_up_to_n_times_k():
    model = cnn_with_dead_channels()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(8))
    calls = []
    got = C.score_cam(model, x, [2, 5], "relu2", batch_size=4, progress=lambda d, t: calls.append((d, t)))
    # per image: 6 live channels + 1 shared pass for the 10 dead ones = 7 passes in batches of 4:
    # after the first batch 4 channels are scored, after the second all 16 (the shared pass counts 10)
    assert calls == [(4, 32), (16, 32), (20, 32), (32, 32)]
    assert torch.equal(got, C.score_cam(model, x, [2, 5], "relu2", batch_size=4))   # the hook changes nothing
    live = []
    C.score_cam(model, x[:1], 2, "relu2", batch_size=16, progress=lambda d, t: live.append((d, t)))
    assert live == [(16, 16)]                                # one batch holds every pass


def test_cam_explorer_shows_score_cam_progress_while_the_picture_is_dimmed():
    pytest.importorskip("ipywidgets")
    from vizlab.widgets import CamExplorer
    model = cnn_with_dead_channels()
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(8))
    before = model_state(model)
    ex = CamExplorer(model, x, methods=["grad_cam", "score_cam"], layers=["relu2"],
                     method_options={"score_cam": {"batch_size": 4}}, top=3)
    ex.widget
    seen = []
    ex.info.observe(lambda change: seen.append((change["new"], BUSY_CLASS in ex.picture._dom_classes)),
                    names="value")
    ex.method.value = "score_cam"
    messages = [m for m, _ in seen]
    assert messages[0].startswith("<i>computing score_cam at relu2: one masked forward pass per channel")
    assert messages[1].endswith(" 4/16 channels</i>") and messages[2].endswith(" 16/16 channels</i>")
    assert seen[1][1] and seen[2][1]                         # dimmed while computing ...
    assert not seen[-1][1] and "<i>" not in messages[-1]     # ... and the result line after
    assert BUSY_CLASS not in ex.picture._dom_classes
    target = ex.target.value
    expected = C.score_cam(model, x, target, "relu2", batch_size=4, normalize=True)[0].numpy()
    assert (ex.heatmap("photo", "score_cam", target, "relu2") == expected).all()
    seen.clear()
    ex.method.value = "grad_cam"
    seen.clear()
    ex.method.value = "score_cam"                             # cached: no busy message, no progress
    assert len(seen) == 1 and "<i>" not in seen[0][0]
    assert_untouched(model, before)
