"""Make vizlab/assets/optvis_gallery.jpg (chapter 04 shows it): channel visualisations of EfficientNet-Lite0 at increasing depth
and class visualisations, at a higher resolution and with more steps than chapter 04 can afford live.

    .venv/bin/python data/make_optvis_gallery.py       # deterministic; a few minutes of CPU

Each row: the first channels of one layer, rendered together in one batch (image i maximises
channel i) with vizlab.optvis.render -- FFT + decorrelated colour, Lucent's standard transforms,
Adam at lr 0.05. Last row: class logits, each image labelled with the class vz.predict gives it.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import vizlab as vz  # noqa: E402
from vizlab import optvis  # noqa: E402
from vizlab.optvis import objectives as O, param as P, transforms as T  # noqa: E402

LAYERS = ["stem", "blocks.3", "blocks.8", "blocks.12", "blocks.15"]
CHANNELS = 6
CLASSES = ["goldfish", "flamingo", "daisy", "pineapple", "volcano", "strawberry"]
SIZE, STEPS = 96, 80
OUT = Path(__file__).resolve().parent.parent / "vizlab" / "assets" / "optvis_gallery.jpg"   # shipped in the wheel


def save_jpeg(png: bytes, path: Path) -> None:
    """JPEG (quality 85) keeps the notebook that shows the picture small (a PNG of it is about 1 MB)."""
    from PIL import Image
    Image.open(io.BytesIO(png)).convert("RGB").save(path, quality=85)


def main() -> None:
    torch.set_num_threads(1)
    model = vz.load()
    rows = []
    for layer in LAYERS:
        g = torch.Generator().manual_seed(0)
        imgs, _ = optvis.render(model, O.channels(layer, range(CHANNELS)), param=P.fft(SIZE, batch=CHANNELS, generator=g),
                                transforms=T.standard(SIZE / 224), steps=STEPS, generator=g, progress=False)
        rows.append((layer, imgs, [f"channel {c}" for c in range(CHANNELS)]))
    ks = [vz.class_index(model, name) for name in CLASSES]
    g = torch.Generator().manual_seed(0)
    obj = sum(O.class_logit(k, batch=i) for i, k in enumerate(ks))
    imgs, _ = optvis.render(model, obj, param=P.fft(SIZE, batch=len(ks), generator=g), transforms=T.standard(SIZE / 224),
                            steps=STEPS, generator=g, progress=False)
    with torch.no_grad():
        probs = model((imgs - 0.5) / 0.5).softmax(1)
    titles = [f"{vz.class_name(model, k)}\n-> {vz.class_name(model, int(p.argmax()))} {float(p.max()):.2f}"
              for k, p in zip(ks, probs)]
    rows.append(("class logit", imgs, titles))

    fig, axes = plt.subplots(len(rows), CHANNELS, figsize=(1.6 * CHANNELS, 1.8 * len(rows)))
    for r, (name, imgs, titles) in enumerate(rows):
        for c in range(CHANNELS):
            ax = axes[r, c]
            ax.imshow(imgs[c].permute(1, 2, 0).numpy())
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(titles[c], fontsize=6)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle(f"EfficientNet-Lite0: FFT + decorrelated colour + transforms, {SIZE} px, {STEPS} steps", fontsize=8)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=80)
    save_jpeg(png.getvalue(), OUT)
    print(f"wrote {OUT}")
    for t in titles:
        print(t.replace("\n", " "))


if __name__ == "__main__":
    main()
