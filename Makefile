# make test -- build .venv if needed, then unit tests and every notebook (nbval)
# make lab  -- build .venv if needed, then JupyterLab on notebooks/
# make student -- the student version of every chapter (nbgrader) in build/student/
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Put the venv first on PATH so that notebook kernels started by nbval or JupyterLab use it.
export PATH := $(abspath $(BIN)):$(PATH)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: test unit notebooks lab bench clean student

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

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks $(ROOT_FLAG)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# nbgrader generate_assignment on a copy of notebooks/: solutions -> NotImplementedError, outputs cleared.
student: $(STAMP)
	$(BIN)/python course/build_student.py notebooks build/student

clean:
	rm -rf $(VENV)
