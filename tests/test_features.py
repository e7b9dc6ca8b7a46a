import torch
from torch import nn

import vizlab as vz
from vizlab import features

from conftest import assert_untouched, model_state


def test_sparsity_and_channel_stats_exact():
    maps = torch.tensor([[[[0.0, 1.0], [2.0, 0.0]], [[0.0, 0.0], [0.0, 4.0]]]])
    assert features.sparsity(maps) == 5 / 8
    stats = features.channel_stats(maps)
    assert stats["mean"].tolist() == [0.75, 1.0]
    assert stats["max"].tolist() == [2.0, 4.0]
    assert stats["sparsity"].tolist() == [0.5, 0.75]


def test_first_layer_filters_scaled_per_filter():
    conv = nn.Conv2d(3, 2, 2)
    conv.weight.data = torch.arange(24.0).view(2, 3, 2, 2)
    f = vz.first_layer_filters(nn.Sequential(conv))
    assert f.shape == (2, 3, 2, 2)
    assert torch.allclose(f[1].flatten(), torch.arange(12.0) / 11)


def test_activation_layers_and_sparsity_grows_with_depth(lite0, chelsea_x):
    names = features.activation_layers(lite0)
    assert names[0] == "stem.act" and names[-1] == "head.act" and len(names) == 33
    before = model_state(lite0)
    stats = vz.layer_statistics(lite0, chelsea_x)
    assert_untouched(lite0, before)
    first, last = stats[0], stats[-1]
    assert first.sparsity < 0.5 < 0.8 < last.sparsity  # the documents' claim, on this model
    third = len(stats) // 3
    early = sum(s.sparsity for s in stats[:third]) / third
    late = sum(s.sparsity for s in stats[-third:]) / third
    assert late > early + 0.2
    assert first.image_similarity > 0.95  # the first layer still "is" the photo


def test_pooled_similarity_separates_content_only_deep(lite0, chelsea_x):
    other = vz.preprocess(vz.sample_image("coffee"), lite0)
    flipped = chelsea_x.flip(-1)
    maps = [vz.feature_maps(lite0, x, ["stem.act", "head.act"]) for x in (chelsea_x, flipped, other)]
    gap = {n: features.pooled_similarity(maps[0][n], maps[1][n]) - features.pooled_similarity(maps[0][n], maps[2][n])
           for n in ("stem.act", "head.act")}
    assert gap["stem.act"] < 0.05 and gap["head.act"] > 0.5


def test_image_similarity_exact_for_identity():
    x = torch.rand(1, 3, 8, 8)
    assert abs(features.image_similarity(x.mean(1, keepdim=True) * 3 + 1, x) - 1) < 1e-5
