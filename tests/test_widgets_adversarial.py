"""The adversarial explorer shows what the library computes, caches it, and reacts to controls."""
from __future__ import annotations

import pytest
import torch

import vizlab as vz
from vizlab import adversarial as adv
from vizlab.widgets.adversarial import AdversarialExplorer
from conftest import assert_untouched, model_state, random_resnet18

pytest.importorskip("ipywidgets")


def test_adversarial_explorer_is_the_library_and_reacts():
    model = random_resnet18(9)
    gen = torch.Generator().manual_seed(9)
    photos = {"a": torch.rand(1, 3, 32, 32, generator=gen), "b": torch.rand(1, 3, 32, 32, generator=gen)}
    before = model_state(model)
    ex = AdversarialExplorer(model, photos, eps_values=(1, 4), pgd_steps=2)
    with torch.no_grad():
        label = model(adv.normalize(photos["b"], model)).argmax(1)
    assert torch.equal(ex.adversarial("b", "fgsm", 4), adv.fgsm(model, photos["b"], label, 4 / 255))
    assert torch.equal(ex.adversarial("b", "pgd", 1), adv.pgd(model, photos["b"], label, 1 / 255, steps=2))
    noise = ex.adversarial("a", "noise", 4) - photos["a"]
    assert torch.allclose(noise.abs()[(photos["a"] > 4 / 255) & (photos["a"] < 1 - 4 / 255)], torch.tensor(4 / 255))
    assert ex.adversarial("b", "fgsm", 4) is ex.adversarial("b", "fgsm", 4), "not cached"
    top = ex.top5("b", "fgsm", 0)
    assert top[0][0] == vz.class_name(model, int(label)) and len(top) == 5
    assert [v for _, v in top] == sorted((v for _, v in top), reverse=True)
    pic = ex.render("a", "fgsm", 1)
    assert pic.shape == (32, 3 * 32 + 2 * 4, 3) and pic.min() >= 0 and pic.max() <= 1
    ex.widget
    shown = ex.picture.value
    ex.eps.value = 4.0
    assert ex.picture.value != shown and "fgsm, eps 4/255" in ex.info.value
    ex.method.value = "noise"
    assert "noise" in ex.info.value
    assert_untouched(model, before)
    with pytest.raises(ValueError, match="methods must be among"):
        AdversarialExplorer(model, photos, methods=("cw",))
    with pytest.raises(ValueError, match="one image"):
        AdversarialExplorer(model, {"ab": torch.cat([photos["a"], photos["b"]])})
