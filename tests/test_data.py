import numpy as np
import pytest
import torch
from PIL import Image

import vizlab as vz


def test_every_sample_loads_as_rgb():
    assert len(vz.list_samples()) >= 8
    for name in vz.list_samples():
        img = vz.sample_image(name)
        assert img.mode == "RGB" and min(img.size) >= 200


def test_unknown_sample_suggests():
    with pytest.raises(KeyError, match="chelsea"):
        vz.sample_image("chelsey")


def test_grayscale_rgba_16bit_and_float(tmp_path):
    gray = np.arange(64 * 48, dtype=np.uint8).reshape(48, 64)
    img = vz.load_image(gray)
    assert img.mode == "RGB" and np.array_equal(np.asarray(img)[..., 0], np.asarray(img)[..., 2])
    rgba = np.zeros((10, 10, 4), np.uint8)  # fully transparent black -> white background
    assert np.asarray(vz.load_image(rgba)).min() == 255
    sixteen = (np.linspace(0, 65535, 100).reshape(10, 10)).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(sixteen).save(path)
    loaded = np.asarray(vz.load_image(path))
    assert loaded.max() == 255 and loaded.min() == 0  # full range kept, not clipped at 255/65535
    assert np.asarray(vz.load_image(np.full((4, 4, 3), 0.5))).max() == 128
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vz.load_image(np.full((4, 4, 3), 3.0))
    with pytest.raises(ValueError, match="channels-first"):
        vz.load_image(np.zeros((3, 32, 32), np.uint8))


def test_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError):
        vz.load_image(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_text("hello")
    with pytest.raises(ValueError, match="not an image"):
        vz.load_image(junk)
    with pytest.raises(ValueError, match="tensor"):
        vz.load_image(torch.zeros(3, 4, 4))


def test_preprocess_roundtrip(lite0):
    img = vz.sample_image("coffee")
    x = vz.preprocess(img, lite0)
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
    assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0  # (p - 0.5) / 0.5
    back = vz.deprocess(x, lite0)
    assert back.shape == (224, 224, 3) and 0 <= back.min() and back.max() <= 1
    # deprocess undoes preprocess exactly on the crop the model saw
    again = vz.preprocess((back * 255).round().astype(np.uint8), lite0)
    assert (again - x).abs().max() < 1e-5


def test_preprocess_imagenet_normalisation_and_any_size():
    m = vz.load("resnet18", pretrained=False)
    white = np.full((3000, 50, 3), 255, np.uint8)  # a tall, thin photo
    x = vz.preprocess(white, m)
    assert x.shape == (1, 3, 224, 224)
    expected = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(x[0, :, 100, 100], expected, atol=1e-5)


def test_deprocess_rejects_batches():
    with pytest.raises(ValueError, match="one image"):
        vz.deprocess(torch.zeros(2, 3, 8, 8))


# ---- issue 7: hardening -------------------------------------------------------------------------

def test_exif_orientation_is_applied(tmp_path):
    """Item 7: a phone photo stored landscape with Orientation=6 (rotate 90 degrees) comes out upright."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = 255                     # left half white
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, quality=95)
    loaded = np.asarray(vz.load_image(path))
    assert loaded.shape == (40, 20, 3)       # upright: taller than wide
    assert loaded[:15].mean() > 200 and loaded[-15:].mean() < 50  # the white half is now on top
    assert np.asarray(vz.load_image(Image.open(path))).shape == (40, 20, 3)


def test_dark_16_bit_png_stays_dark(tmp_path):
    """Item 7: a 16-bit PNG whose brightest pixel is 200 of 65535 is almost black, not 78 % grey."""
    path = tmp_path / "dark.png"
    Image.fromarray(np.full((8, 8), 200, np.uint16)).save(path)
    assert np.asarray(vz.load_image(path)).max() == round(200 / 65535 * 255)  # = 1
    assert np.asarray(vz.load_image(np.full((4, 4), 200, np.uint16))).max() == 1
    assert np.asarray(vz.load_image(np.full((4, 4), 200, np.int64))).max() == 200  # plain ints: 8-bit


def test_premultiplied_alpha_mode():
    """Item 15: PIL mode "La" (premultiplied luminance + alpha) loads as RGB."""
    img = Image.new("La", (4, 4))
    assert vz.load_image(img).mode == "RGB"


# ---- issue 18: every file a chapter reads ships inside the package --------------------------------

EXPECTED_ASSETS = {"annotations.json", "leaderboard.csv", "leaderboard.md", "optvis_gallery.jpg",
                   "style_cache_cue.npz", "style_cache_depth.npz", "style_cache_grid.npz"}


def test_every_asset_is_a_file_inside_the_package():
    from pathlib import Path
    from vizlab.data import asset_path, list_assets
    assert EXPECTED_ASSETS <= set(list_assets())
    package = Path(vz.__file__).resolve().parent / "assets"
    for name in list_assets():
        path = asset_path(name)
        assert isinstance(path, Path) and path.is_file() and path.stat().st_size > 0
        assert path.resolve().parent == package


def test_asset_contents_chapters_rely_on():
    """The keys and rows the chapters read (04, 11, 12) are there."""
    from vizlab.data import asset_path
    assert Image.open(asset_path("optvis_gallery.jpg")).format == "JPEG"
    keys = {"grid": {"images", "judge", "ssim", "style_drop"}, "depth": {"style", "content", "layers"},
            "cue": {"images", "shapes", "textures"}}
    for part, want in keys.items():
        with np.load(asset_path(f"style_cache_{part}.npz")) as cache:
            assert want <= set(cache.keys()), part
    assert asset_path("leaderboard.md").read_text(encoding="utf-8").startswith("# Leaderboard")
    assert "coffee,saliency," in asset_path("leaderboard.csv").read_text()


def test_unknown_asset_names_the_available_ones():
    from vizlab.data import asset_path
    with pytest.raises(KeyError, match=r"Did you mean 'style_cache_grid.npz'.*Available: annotations.json"):
        asset_path("style_cache_grid.npy")
    for bad in ("../pyproject.toml", "", "assets", None):   # no path outside the folder, no folder
        with pytest.raises(KeyError, match="Available"):
            asset_path(bad)


def test_normalize_is_the_one_pixel_vocabulary():
    """Issue 21 item 2: pixels <-> model input in one place; preprocess, the attacks' wrapper and IG's black
    baseline agree with it exactly."""
    import vizlab as vz
    from vizlab import data
    model = vz.load()                                       # Lite0: mean 0.5, std 0.5
    p = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    x = data.normalize(p, model)
    assert torch.equal(x, (p - 0.5) / 0.5)
    assert torch.allclose(data.denormalize(x, model), p, atol=1e-7)
    imagenet = data.normalize(p)                            # no model: ImageNet's statistics
    assert torch.allclose(imagenet[:, 0], (p[:, 0] - 0.485) / 0.229)
    assert torch.equal(vz.adversarial.normalize(p, model), x)
    assert torch.equal(vz.attribution.baseline_for(model, x, "black"), data.normalize(torch.zeros_like(p), model))
    photo = vz.preprocess(vz.sample_image("chelsea"), model)
    assert torch.allclose(data.normalize(data.denormalize(photo, model), model), photo, atol=1e-6)
    with pytest.raises(ValueError, match="3 channels but the pixels have 2"):
        data.normalize(torch.rand(1, 2, 4, 4))             # ImageNet's three different means
    assert torch.equal(data.normalize(torch.rand(1, 2, 4, 4) * 0 + 1, model), torch.ones(1, 2, 4, 4))  # 0.5/0.5 fits any
    assert torch.equal(data.normalize(torch.ones(1, 1, 2, 2), vz.load("digits_cnn")), torch.ones(1, 1, 2, 2))
