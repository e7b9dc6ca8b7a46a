"""vizlab explain: one figure per call; clear one-line errors with exit code 2."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vizlab.cli import main


def test_explain_writes_one_figure_with_a_panel_per_method(tmp_path, capsys):
    out = tmp_path / "cat.png"
    assert main(["explain", "chelsea", "--method", "grad_cam", "layer_cam", "--method", "cam", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    img = np.asarray(Image.open(out).convert("RGB"))
    # photo + top-5 + 3 panels, 2.8 in wide each at 100 dpi
    assert img.shape[1] == 5 * 280 and img.shape[0] == 310
    assert img.std() > 20  # not a blank canvas


def test_explain_target_by_name_and_index_layer_and_file_input(tmp_path):
    photo = tmp_path / "cup.jpg"
    Image.open(__import__("vizlab").data.sample_path("coffee")).save(photo)
    out_a, out_b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["explain", str(photo), "--target", "espresso", "--layer", "blocks.15", "--out", str(out_a)]) == 0
    assert main(["explain", str(photo), "--target", "967", "--layer", "blocks.15", "--out", str(out_b)]) == 0
    a = np.asarray(Image.open(out_a).convert("RGB"), dtype=float)
    b = np.asarray(Image.open(out_b).convert("RGB"), dtype=float)
    assert np.abs(a - b).max() == 0  # the same class, by name or by index


def test_explain_other_class_gives_other_figure(tmp_path):
    out_a, out_b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["explain", "coffee", "--target", "967", "--dpi", "40", "--out", str(out_a)]) == 0
    assert main(["explain", "coffee", "--target", "968", "--dpi", "40", "--out", str(out_b)]) == 0
    a = np.asarray(Image.open(out_a).convert("RGB"), dtype=float)
    b = np.asarray(Image.open(out_b).convert("RGB"), dtype=float)
    assert a.shape == b.shape and np.abs(a - b).max() > 50


@pytest.mark.parametrize("args, message", [
    (["explain", "no_such_photo.jpg"], "no image file"),
    (["explain", "chelsae"], "did you mean the sample 'chelsea'"),
    (["explain", "chelsea", "--method", "gradcam"], "did you mean 'grad_cam'"),
    (["explain", "chelsea", "--target", "espreso"], "closest: 'espresso'"),
    (["explain", "chelsea", "--target", "1000"], "outside 0..999"),
    (["explain", "chelsea", "--layer", "haed"], "Closest: head"),
    (["explain", "chelsea", "--model", "resnet99"], "cannot load model"),
    (["explain", "chelsea", "--method", "cam", "--layer", "blocks.3"], "grad_cam"),
])
def test_clear_errors_exit_2(args, message, capsys, tmp_path):
    assert main([*args, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.startswith("vizlab explain: error:")
    assert not (tmp_path / "x.png").exists()


def test_unreadable_image(tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_text("not an image")
    assert main(["explain", str(bad), "--out", str(tmp_path / "x.png")]) == 2
    assert "cannot read the image" in capsys.readouterr().err


def test_help_mentions_sample_names(capsys):
    assert main(["explain", "--help"]) == 0
    assert "sample name" in capsys.readouterr().out
    assert main([]) == 2


def test_console_script_end_to_end(tmp_path):
    out = tmp_path / "fig.png"
    ok = subprocess.run([sys.executable, "-m", "vizlab.cli", "explain", "coffee", "--out", str(out)],
                        capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert out.exists()
    bad = subprocess.run([sys.executable, "-m", "vizlab.cli", "explain", "coffee", "--method", "nope"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "unknown method" in bad.stderr


# ---- issue 7: hardening -------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["explain", "chelsea", "--target", "²"], "no class called '²'"),
    (["explain", "chelsea", "--dpi", "100000"], "--dpi 100000 is outside"),
    (["explain", "chelsea", "--model", "mobilenet_v3_small", "--method", "guided_grad_cam"], "Hardswish"),
])
def test_more_clear_errors_exit_2(args, message, capsys, tmp_path, monkeypatch):
    from vizlab import models
    real = models.load
    monkeypatch.setattr(models, "load", lambda name, pretrained=True: real(name, pretrained=name == "efficientnet_lite0"))
    assert main([*args, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_index_target_on_a_sequential_classifier(tmp_path, monkeypatch, capsys):
    """Item 16: mobilenet/vgg/efficientnet have `classifier = Sequential(...)`: --target 5 works."""
    from vizlab import models
    real = models.load
    monkeypatch.setattr(models, "load", lambda name, pretrained=True: real(name, pretrained=False))
    assert main(["explain", "chelsea", "--model", "mobilenet_v3_small", "--target", "5",
                 "--out", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").exists()


def test_out_without_extension_and_directory(tmp_path, capsys):
    """Item 16: `--out noext` writes noext.png and says so; a directory is refused."""
    assert main(["explain", "chelsea", "--out", str(tmp_path / "noext")]) == 0
    assert (tmp_path / "noext.png").exists()
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'noext.png'}"
    assert main(["explain", "chelsea", "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
