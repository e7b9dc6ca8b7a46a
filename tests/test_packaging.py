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
print(json.dumps({"items": len(items), "annotations": str(ev.annotations_path()),
                  "class_281": vz.class_name(lite0, 281), "digit_7": vz.class_name(digits_cnn, 7),
                  "photos": len(photos)}))
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
