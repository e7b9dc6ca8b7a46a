# make test -- build .venv if needed (with the [dev] test references), then unit tests and every notebook (nbval)
# make lab  -- build .venv if needed (runtime dependencies only), trust the chapters, then JupyterLab on notebooks/
# make present CHAPTER=06 -- one chapter with Voila: code hidden, explorers live (the [present] extra)
# make browser -- every chapter in JupyterLab in headless Chromium, every explorer control moved (CI runs it)
# make student -- the student version of every chapter (nbgrader) in build/student/
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RUNTIME_STAMP := $(VENV)/.runtime-stamp
EXTRAS_STAMP  := $(VENV)/.extras-stamp
# Put the venv first on PATH so that notebook kernels started by nbval or JupyterLab use it.
export PATH := $(abspath $(BIN)):$(PATH)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: test unit notebooks lab bench clean student present browser

# Re-install only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# torch-lucent pins an old torch; without its deps (kornia<=0.4.1, decorator, future in [dev]) it runs on ours
	$(BIN)/python -m pip install --quiet --no-deps torch-lucent
	# torchattacks (adversarial parity tests, benchmark) pins requests~=2.25.1, older than jupyterlab-server's;
	# its real needs (torch, torchvision, numpy, scipy, tqdm) are already installed
	$(BIN)/python -m pip install --quiet --no-deps torchattacks==3.5.1
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests notebooks --nbval -p no:cacheprovider

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests -p no:cacheprovider

notebooks: $(STAMP)
	$(BIN)/python -m pytest -q notebooks --nbval -p no:cacheprovider

# Students who only read the chapters need the runtime dependencies, not the test references.
$(RUNTIME_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUNTIME_STAMP)

# Trusted chapters show their saved explorer views before anything runs (untrusted: widget state ignored).
lab: $(RUNTIME_STAMP)
	$(BIN)/jupyter trust notebooks/*.ipynb
	$(BIN)/jupyter lab notebooks $(ROOT_FLAG)

# Voila and playwright, in the same environment as the kernel.
$(EXTRAS_STAMP): pyproject.toml $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[present,browser]"
	@touch $(EXTRAS_STAMP)

CHAPTER ?= 06
present: $(EXTRAS_STAMP)
	@ls notebooks/$(CHAPTER)_*.ipynb >/dev/null 2>&1 || { echo "no notebooks/$(CHAPTER)_*.ipynb; try make present CHAPTER=06 (or 06b)"; exit 1; }
	$(BIN)/voila $$(ls notebooks/$(CHAPTER)_*.ipynb | head -n 1)

# Debian's chromium when no browser is installed (apt-get as root, or through passwordless sudo),
# then tests/browser/run.py (under CI=true a browser still missing is a failure, not a skip).
SUDO = $(if $(filter 0,$(shell id -u)),,$(shell sudo -n true >/dev/null 2>&1 && echo sudo -n))
browser: $(STAMP) $(EXTRAS_STAMP)
	@if [ -z "$$CHROMIUM" ] && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && \
	    { [ "$$(id -u)" = 0 ] || [ -n "$(SUDO)" ]; }; then \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi
	$(BIN)/python tests/browser/run.py $(BROWSER_ARGS)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# nbgrader generate_assignment on a copy of notebooks/: solutions -> NotImplementedError, outputs cleared.
student: $(STAMP)
	$(BIN)/python course/build_student.py notebooks build/student

clean:
	rm -rf $(VENV)
