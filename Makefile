# make test -- build .venv if needed (with the [dev] test references), then unit tests and every notebook (nbval)
# make lab  -- build .venv if needed (runtime dependencies only), trust the chapters, then JupyterLab on notebooks/
# make present CHAPTER=06 -- one chapter with Voila, without model answers: code hidden, explorers live ([present])
# make browser -- every chapter in JupyterLab in headless Chromium, every explorer control moved (CI runs it)
# make course -- the nbgrader course in build/course/: one assignment per chapter (ch01..ch12, ch06b), gradebook,
#                student versions in release/; grading runs the exercises only (README, For lecturers)
# make student -- the student version of every chapter (nbgrader) in build/student/ (no gradebook: see make course)
# make portable -- every notebook again on another CPU code path (what another laptop computes); CI runs it
# make pins -- refresh tests/constraints.txt (the versions make test installs) in a fresh venv, then make test
# make hub -- the course on a local JupyterHub at http://127.0.0.1:8000 (deploy/README.md): students log in with any
#             name and $VIZLAB_HUB_PASSWORD, the instructor as "instructor" with $VIZLAB_HUB_ADMIN_PASSWORD (both
#             generated into build/hub/ when unset); formgrader at /services/vizlab/; Ctrl-C stops everything
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RUNTIME_STAMP := $(VENV)/.runtime-stamp
EXTRAS_STAMP  := $(VENV)/.extras-stamp
# The versions the tests ran with (pip freeze of a [dev,present,browser,hub] venv). make test and CI install with them;
# make lab and `pip install -e .` (students) stay unpinned. Refresh: make pins.
PINS := tests/constraints.txt
# nbval compares text outputs after these substitutions: a number printed as "≈0.69" is approximate (a long
# optimisation, a t-SNE, an attack); its claim is an assert with a tolerance in the same cell.
NBVAL := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg
# Put the venv first on PATH so that notebook kernels started by nbval or JupyterLab use it.
export PATH := $(abspath $(BIN)):$(PATH)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: test unit notebooks portable pins lab bench clean student present browser course hub

# Re-install only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml $(PINS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(PINS) -e ".[dev]"
	# torch-lucent pins an old torch; without its deps (kornia<=0.4.1, decorator, future in [dev]) it runs on ours
	$(BIN)/python -m pip install --quiet -c $(PINS) --no-deps torch-lucent
	# torchattacks (adversarial parity tests, benchmark) pins requests~=2.25.1, older than jupyterlab-server's;
	# its real needs (torch, torchvision, numpy, scipy, tqdm) are already installed
	$(BIN)/python -m pip install --quiet --no-deps torchattacks==3.5.1
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests notebooks $(NBVAL) -p no:cacheprovider

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests -p no:cacheprovider

notebooks: $(STAMP)
	$(BIN)/python -m pytest -q notebooks $(NBVAL) -p no:cacheprovider

# Another laptop computes the last digits of a float differently: PyTorch's portable kernels (no AVX), oneDNN
# limited to SSE4.1 and MKL to SSE4.2 -- the settings that changed the most digits here (README, Reproducibility).
# Every saved output must still match (approximate numbers excepted) and every claim's assert hold.
PORTABLE_ENV := ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2
portable: $(STAMP)
	env $(PORTABLE_ENV) $(BIN)/python -m pytest -q notebooks $(NBVAL) -p no:cacheprovider

# Fresh venv without pins -> newest versions the caps allow -> tests/constraints.txt -> make test with them.
pins:
	rm -rf build/pins-venv && $(PYTHON) -m venv build/pins-venv
	build/pins-venv/bin/python -m pip install --quiet --upgrade pip
	build/pins-venv/bin/python -m pip install --quiet -e ".[dev,present,browser,hub]"
	build/pins-venv/bin/python -m pip install --quiet --no-deps torch-lucent torchattacks==3.5.1
	{ echo "# pip constraints: the versions make test and CI install (written by make pins on $$(date +%F))"; \
	  build/pins-venv/bin/python -m pip freeze --exclude-editable | grep -v -i '^vizlab'; } > $(PINS)
	rm -rf build/pins-venv
	$(MAKE) clean test

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
	$(BIN)/python -m pip install --quiet -c $(PINS) -e ".[present,browser]"
	@touch $(EXTRAS_STAMP)

CHAPTER ?= 06
# The lecture version (course/lecture.py): model answers, solutions and exercise checks removed, body unchanged.
present: $(EXTRAS_STAMP)
	@ls notebooks/$(CHAPTER)_*.ipynb >/dev/null 2>&1 || { echo "no notebooks/$(CHAPTER)_*.ipynb; try make present CHAPTER=06 (or 06b)"; exit 1; }
	$(BIN)/python course/lecture.py $(CHAPTER) --out build/lecture
	$(BIN)/voila build/lecture/$$(basename $$(ls notebooks/$(CHAPTER)_*.ipynb | head -n 1))

# The local JupyterHub (make hub, and the browser test's walk through it): its extra and the proxy from npm.
HUB_STAMP := $(VENV)/.hub-stamp
CHP := build/hub/node_modules/.bin/configurable-http-proxy

# Debian's chromium when no browser is installed (apt-get as root, or through passwordless sudo),
# then tests/browser/run.py (under CI=true a browser still missing is a failure, not a skip), then
# tests/browser/hub.py: one chapter through the local JupyterHub as a student (login, spawn, fetch, Run All,
# an explorer control); it skips without npm, except under CI=true.
SUDO = $(if $(filter 0,$(shell id -u)),,$(shell sudo -n true >/dev/null 2>&1 && echo sudo -n))
browser: $(STAMP) $(EXTRAS_STAMP) $(HUB_STAMP)
	@if [ -z "$$CHROMIUM" ] && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && \
	    { [ "$$(id -u)" = 0 ] || [ -n "$(SUDO)" ]; }; then \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(CHP); fi
	$(BIN)/python tests/browser/run.py $(BROWSER_ARGS)
	$(BIN)/python tests/browser/hub.py $(HUB_BROWSER_ARGS)

# The speed tables (each against its reference library, or its own floor); the hub load test and the kernel
# memory survey are experiments that take the machine for tens of minutes: run them by hand (deploy/README.md).
BENCHES := $(filter-out benchmarks/hub_load.py benchmarks/kernel_memory.py,$(wildcard benchmarks/*.py))
bench: $(STAMP)
	@for b in $(BENCHES); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# A lecturer needs the runtime dependencies and nbgrader (the [course] extra), not the test references.
COURSE_STAMP := $(VENV)/.course-stamp
$(COURSE_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(PINS) -e ".[course]"
	@touch $(COURSE_STAMP)

# Re-running keeps the gradebook, students and submissions (COURSE_ARGS=--clean starts over, --chapters 03 05 a subset).
course: $(COURSE_STAMP)
	$(BIN)/python course/build_course.py --out build/course $(COURSE_ARGS)

# nbgrader generate_assignment on a copy of notebooks/: solutions -> NotImplementedError, outputs cleared.
student: $(COURSE_STAMP)
	$(BIN)/python course/build_student.py notebooks build/student

clean:
	rm -rf $(VENV)

# The hub's Python side in the project's venv; the proxy from the npm registry into build/hub (never global).
$(HUB_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(PINS) -e ".[hub]"
	@touch $(HUB_STAMP)
$(CHP):
	@command -v npm >/dev/null || { echo "make hub needs node and npm (apt-get install nodejs npm)"; exit 1; }
	npm install --no-save --no-audit --no-fund --prefix build/hub configurable-http-proxy@5
hub: $(HUB_STAMP) $(CHP) course
	$(BIN)/jupyterhub -f deploy/jupyterhub_config.py
