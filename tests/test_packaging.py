"""The two ways of installing vizlab name the same packages; importing it stays light."""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge spells some packages differently


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;#]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_packages_as_pyproject():
    runtime = {_name(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    names = set()
    for line in (ROOT / "environment.yml").read_text().splitlines():
        item = line.split("#")[0].strip()
        if not item.startswith("- ") or item.endswith(":") or item in ("- conda-forge",):
            continue
        value = item[2:].strip()
        if value in ("pip", "-e .") or value.startswith("python"):
            continue
        names.add(CONDA_NAMES.get(_name(value), _name(value)))
    names.discard("conda-forge")
    assert names == runtime


def test_import_is_light_and_side_effect_free():
    """import vizlab pulls in no plotting / widget / sklearn stack, and importing the plotting
    modules changes no matplotlib setting."""
    code = (
        "import sys, json\n"
        "import vizlab\n"
        "heavy = [m for m in ('matplotlib', 'sklearn', 'skimage', 'ipywidgets', 'torchvision') if m in sys.modules]\n"
        "import matplotlib\n"
        "before = dict(matplotlib.rcParams)\n"
        "import vizlab.plot, vizlab.widgets\n"
        "changed = sorted(k for k, v in matplotlib.rcParams.items() if before.get(k) != v)\n"
        "print(json.dumps([heavy, changed]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    heavy, changed = json.loads(out)
    assert heavy == [] and changed == []


def test_public_names_resolve():
    import vizlab
    for name in ["load", "predict", "capture", "sample_image", "preprocess", "deprocess", "feature_maps",
                 "layer_statistics", "first_layer_filters", "plot", "widgets"]:
        assert getattr(vizlab, name) is not None


# Every loader that reads a file at run time, called on an installed (non-editable) copy of vizlab.
_LOADERS = r"""
import json, sys
from pathlib import Path
import vizlab as vz
from vizlab import evaluate as ev, digits
here = Path(vz.__file__).resolve()
assert str(here).startswith(sys.argv[1]), f"imported vizlab from {here}, not from the installed wheel"
lite0 = vz.load()
items = ev.annotated_inputs(lite0)
digits_cnn = vz.load("digits_cnn")
for name in digits.CHECKPOINTS:
    vz.load(name)
from vizlab.data import list_samples
photos = {name: vz.sample_image(name).size for name in list_samples()}
# every file a chapter reads (vizlab/assets/), opened the way the chapters open it
import csv, numpy as np
from PIL import Image
from vizlab.data import asset_path, list_assets
assets = {}
for name in list_assets():
    path = asset_path(name)
    assert str(path.resolve()).startswith(sys.argv[1]), f"{name} read from {path}, not from the installed wheel"
    if name.endswith(".npz"):
        with np.load(path) as f:
            assets[name] = sorted(f.keys())
    elif name.endswith(".jpg"):
        assets[name] = list(Image.open(path).size)
    elif name.endswith(".csv"):
        assets[name] = len(list(csv.DictReader(open(path))))
    elif name.endswith(".json"):
        assets[name] = len(json.loads(path.read_text(encoding="utf-8")))
    else:
        assets[name] = len(path.read_text(encoding="utf-8"))
print(json.dumps({"items": len(items), "annotations": str(ev.annotations_path()),
                  "class_281": vz.class_name(lite0, 281), "digit_7": vz.class_name(digits_cnn, 7),
                  "photos": len(photos), "assets": assets}))
"""


def test_an_installed_wheel_finds_every_file_it_reads(tmp_path):
    """Build the wheel (offline, from a copy of the sources), install it into a throw-away venv outside
    the checkout and call every loader from there: a file that vizlab reads at run time but that
    the wheel does not ship (it once read data/annotations.json next to the package) fails here,
    although an editable install (pip install -e .) hides it. About 20-40 s."""
    import shutil
    import sysconfig
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "vizlab", src / "vizlab", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(src)],
                   check=True, capture_output=True, cwd=tmp_path)
    wheel, = dist.glob("vizlab-*.whl")
    env_dir = tmp_path / "venv"
    # A venv made from this venv's python sees the *base* interpreter's packages, not this venv's:
    # a .pth line adds this venv's site-packages (torch, ...) after the new venv's own. Lines of a
    # .pth only extend sys.path; the editable install's finder (a .pth in this venv) is not run.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, capture_output=True)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "project_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(pip + ["--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, cwd=tmp_path)
    run = subprocess.run([str(python), "-c", _LOADERS, str(env_dir.resolve())], capture_output=True, text=True,
                         cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["items"] == 11 and out["class_281"] == "tabby" and out["digit_7"] == "7"
    assert not out["annotations"].startswith(str(ROOT)), out["annotations"]
    # every asset of the checkout is in the wheel, and loads there (issue 18: chapters read them, not ../data)
    in_checkout = sorted(p.name for p in (ROOT / "vizlab" / "assets").iterdir() if p.is_file())
    assert sorted(out["assets"]) == in_checkout
    assert {"images", "judge", "ssim", "style_drop"} <= set(out["assets"]["style_cache_grid.npz"])
    assert out["assets"]["leaderboard.csv"] > 0 and out["assets"]["leaderboard.md"] > 0


# A file read through the parent folder ("../data/x", Path("..") / "data") exists in the repository but not
# next to a released notebook: nbgrader's release folder and a notebook sent alone have no ../data.
_PARENT_READ = re.compile(r"""["']\.\.[/\\]|(?:Path|join|chdir)\(\s*["']\.\.["']|os\.pardir|\.parent\b""")


def _parent_reads(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines()
            if _PARENT_READ.search(line.split("#", 1)[0])]      # code only, not a comment


def test_parent_read_pattern():
    """The pattern catches the ways a chapter read ../data before issue 18, and not a package read."""
    for line in ['np.load(f"../data/style_cache_{part}.npz")', 'Image(filename="../data/optvis_gallery.jpg")',
                 'data_dir = Path("..") / "data"', "open(os.path.join('..', 'data', 'x.csv'))",
                 "here = Path.cwd().parent / 'data'", "open('..\\data\\x.csv')",
                 'os.chdir("..")']:
        assert _parent_reads(line), line
    for line in ['np.load(vz.data.asset_path(f"style_cache_{part}.npz"))', 'x = a[..., 0]',
                 'print("...")', "# made by ../data/make_leaderboard.py", 'y = x[..., None]',
                 '[s.split("..")[0] for s in steps]']:
        assert not _parent_reads(line), line


def test_no_chapter_reads_a_file_outside_the_package():
    """Every code cell of every chapter reads its files from the package (vz.data.asset_path, sample photos),
    never through ../ (issue 18: the student version of 04 and 11 stopped with FileNotFoundError)."""
    found = []
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                found += [f"{nb.name} (cell {cell.get('id')}): {line}" for line in _parent_reads(src)]
    assert not found, "a chapter reads a file next to the repository, not from the package " \
                      "(ship it in vizlab/assets/ and read it with vz.data.asset_path):\n" + "\n".join(found)
