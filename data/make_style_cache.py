"""Precompute the style-transfer results that chapter 11 loads (too slow to run live in 60 s).

    .venv/bin/python data/make_style_cache.py            # all parts (about 10-15 min of CPU)
    .venv/bin/python data/make_style_cache.py grid cue   # only some parts

Writes vizlab/assets/style_cache_<part>.npz, shipped inside the package (images as uint8, metrics as float arrays):

* ``grid``  -- the chelsea photo in the style of the coffee photo, 128 px, 50 L-BFGS steps, for
  3 networks (Lite0, Lite0 + SWAG, random VGG-19) x 3 style weights x 2 TV weights; with the
  judge's style distance (a random ResNet-18 that no loss used) and SSIM to the content photo.
* ``depth`` -- Lite0 style reconstructions from noise (style loss only, layers up to depth k) and
  content reconstructions (content loss only, at layer k), 128 px, 60 steps.
* ``cue``   -- cue-conflict images (Geirhos et al. 2019): the shape of one photo in the texture
  (style) of another, made with the random VGG-19 (not the classifier), 96 px, 40 steps.

Everything is seeded; one torch thread.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

import vizlab as vz
from vizlab import style as st

ASSETS = Path(__file__).resolve().parent.parent / "vizlab" / "assets"   # chapter 11 reads them from there
CONTENT, STYLE = "chelsea", "coffee"
NETWORKS = {"Lite0": ("lite0", None), "Lite0 + SWAG": ("lite0", "softmax"), "random VGG-19": ("vgg", None)}
STYLE_WEIGHTS = [1.0, 10.0, 100.0]
TV_WEIGHTS = [0.0, 1e-2]
DEPTH_LAYERS = list(st.DEFAULT_LAYERS["efficientnet_lite0"][1])
CUE_SHAPES = ["chelsea", "coffee", "motorcycle_left", "camera"]
CUE_TEXTURES = ["chelsea", "coffee", "flower", "motorcycle_left"]
JUDGE_LAYERS = st.JUDGE_LAYERS


def to_uint8(img: torch.Tensor) -> np.ndarray:
    return (img[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    from skimage.metrics import structural_similarity
    return float(structural_similarity(a[0].permute(1, 2, 0).numpy(), b[0].permute(1, 2, 0).numpy(),
                                       channel_axis=2, data_range=1.0))


def grid(nets: dict) -> dict:
    c, s = st.pixels(CONTENT, 128), st.pixels(STYLE, 128)
    judge = st.judge_network()  # a random ResNet-18 (seed 1) that no loss uses
    images, dist, sim, drop = [], [], [], []
    for name, (net, transform) in NETWORKS.items():
        for sw in STYLE_WEIGHTS:
            for tv in TV_WEIGHTS:
                t = time.process_time()
                img, hist = st.transfer(nets[net], c, s, style_weights=sw, tv_weight=tv, steps=50,
                                        activation_transform=transform, progress=False)
                images.append(to_uint8(img))
                dist.append(st.style_distance(judge, img, s, JUDGE_LAYERS))
                sim.append(ssim(img, c))
                drop.append(1 - hist["style"][-1] / hist["style"][0])
                print(f"grid {name:14s} style {sw:5g} tv {tv:5g}: judge {dist[-1]:.3f} SSIM {sim[-1]:.3f} "
                      f"style loss -{drop[-1]:.0%}  ({time.process_time() - t:.0f} s CPU)", flush=True)
    shape = (len(NETWORKS), len(STYLE_WEIGHTS), len(TV_WEIGHTS))
    return dict(images=np.stack(images).reshape(*shape, 128, 128, 3), judge=np.reshape(dist, shape),
                ssim=np.reshape(sim, shape), style_drop=np.reshape(drop, shape),
                networks=np.array(list(NETWORKS)), style_weights=np.array(STYLE_WEIGHTS),
                tv_weights=np.array(TV_WEIGHTS),
                judge_content=st.style_distance(judge, c, s, JUDGE_LAYERS), ssim_style=ssim(s, c))


def depth(nets: dict) -> dict:
    c, s = st.pixels(CONTENT, 128), st.pixels(STYLE, 128)
    lite0 = nets["lite0"]
    styles, contents = [], []
    for k, layer in enumerate(DEPTH_LAYERS):
        g = torch.Generator().manual_seed(k)
        img, _ = st.transfer(lite0, c, s, None, DEPTH_LAYERS[:k + 1], style_weights=1.0, tv_weight=0.0,
                             steps=60, init="noise", generator=g, progress=False)
        styles.append(to_uint8(img))
        g = torch.Generator().manual_seed(k)
        img, _ = st.transfer(lite0, c, s, layer, [], tv_weight=0.0, steps=60, init="noise", generator=g,
                             progress=False)
        contents.append(to_uint8(img))
        print(f"depth {layer}", flush=True)
    return dict(style=np.stack(styles), content=np.stack(contents), layers=np.array(DEPTH_LAYERS))


def cue(nets: dict) -> dict:
    pairs = [(a, b) for a in CUE_SHAPES for b in CUE_TEXTURES if a != b]
    images = []
    for shape, texture in pairs:
        t = time.process_time()
        img, _ = st.transfer(nets["vgg"], st.pixels(shape, 96), st.pixels(texture, 96), style_weights=10.0,
                             tv_weight=1e-3, steps=40, progress=False)
        images.append(to_uint8(img))
        print(f"cue {shape} in {texture} ({time.process_time() - t:.0f} s CPU)", flush=True)
    return dict(images=np.stack(images), shapes=np.array([p[0] for p in pairs]),
                textures=np.array([p[1] for p in pairs]))


def main(parts) -> None:
    torch.set_num_threads(1)
    nets = {"lite0": vz.load(), "vgg": st.random_vgg19(0)}
    for part in parts:
        out = {"grid": grid, "depth": depth, "cue": cue}[part](nets)
        np.savez_compressed(ASSETS / f"style_cache_{part}.npz", **out)
        print(f"wrote vizlab/assets/style_cache_{part}.npz", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["grid", "depth", "cue"])
