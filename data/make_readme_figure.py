"""Re-draw data/readme_figure.png, the picture at the top of README.md:  python data/make_readme_figure.py"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import vizlab as vz  # noqa: E402


def main() -> None:
    model = vz.load()
    x = vz.preprocess(vz.sample_image("chelsea"), model)
    photo = vz.deprocess(x, model)
    top = vz.predict(model, x, k=1)[0]
    out = vz.capture(model, x, ["stem.act", "blocks.5.expand.act", "head"], target=top.index, gradients=True)
    grad_cam = (out.gradients["head"].mean((2, 3), keepdim=True) * out["head"]).sum(1).clamp_min(0)[0]
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.3))
    vz.plot.show_image(photo, ax=axes[0], title=f"input: {top.name} ({top.probability:.0%})")
    vz.plot.channel_grid(out["stem.act"], ax=axes[1], max_channels=16, title="first layer: 16 feature maps")
    vz.plot.channel_grid(out["blocks.5.expand.act"], ax=axes[2], max_channels=16, title="block 5: 16 feature maps")
    vz.plot.heatmap_overlay(photo, grad_cam, ax=axes[3], title=f"Grad-CAM for '{top.name}'")
    fig.tight_layout()
    fig.savefig(Path(__file__).with_name("readme_figure.png"), dpi=80)


if __name__ == "__main__":
    main()
