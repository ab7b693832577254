# The two promised commands: `make run` (the whole stack, embedded) and `make test`.
# Each sets itself up (virtual environment, demo bundles) and is safe to run again.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The environment tests run in: every package pinned with its hashes (CONTRIBUTING.md, "Locks").
LOCK   := requirements/dev.lock
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml Makefile $(LOCK) | sha256sum | cut -c1-12)
# The lock pins the CPU torch wheel (torch==2.13.0+cpu), which PyPI does not carry: this machine
# keeps it in /opt/wheels; elsewhere it comes from PyTorch's CPU wheel page. Its hash is checked
# either way.
TORCH_WHEELS ?= $(if $(wildcard /opt/wheels/torch-*),/opt/wheels,https://download.pytorch.org/whl/cpu/torch/)
PY_PATHS := shared services tests bench
# Gates `make test` applies before pytest: findings fail the build (0: report them only).
FORMAT_CHECK     ?= 1
TYPECHECK_STRICT ?= 1

.PHONY: run test lint typecheck lock clean system-deps

# Debian packages the tests use: Chromium for the browser tests, poppler-utils to check the
# PDF/A reports, docker-compose to parse the
# compose file. Installed when missing (as root with apt-get); otherwise the tests that need
# them say what is missing.
SYSTEM_TOOLS := docker-compose:docker-compose chromium:chromium pdffonts:poppler-utils

# --no-deps: the lock is the whole environment, so pip resolves nothing by itself. The one
# package the lock leaves out on purpose is torchvision (onnx2torch asks for it; it does not
# import beside the CPU torch wheel; services/worker/twin provides what onnx2torch needs).
$(STAMP): pyproject.toml Makefile $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "the locks are resolved for CPython 3.11")'
	$(BIN)/pip install -q --no-deps --require-hashes --find-links $(TORCH_WHEELS) -r $(LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	@broken=$$($(BIN)/pip check | grep -v -E '^onnx2torch [^ ]+ requires torchvision, which is not installed\.$$'); \
	  if [ -n "$$broken" ]; then echo "$$broken"; echo "$(LOCK) misses these: run make lock"; exit 1; fi
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/xai run

test: $(STAMP) system-deps lint typecheck
	$(BIN)/python -m pytest

system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing system packages:$$missing (install them with your package manager)"; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check $(PY_PATHS)
ifeq ($(FORMAT_CHECK),1)
	$(BIN)/ruff format --check $(PY_PATHS)
else
	@$(BIN)/ruff format --check --output-format concise $(PY_PATHS) 2>&1 | tail -n 1; \
	  echo "(FORMAT_CHECK=0: unformatted files do not fail the build)"
endif

# mypy's configuration (packages, Python version, untyped libraries) is pyproject's [tool.mypy].
typecheck: $(STAMP)
ifeq ($(TYPECHECK_STRICT),1)
	$(BIN)/mypy
else
	@$(BIN)/mypy | tail -n 1; echo "(TYPECHECK_STRICT=0: mypy findings do not fail the build)"
endif

# Re-resolves the locks from pyproject.toml and requirements/*.in, keeping every pin that still
# fits (`make lock UPGRADE=1` takes the newest releases). pip's own configuration is ignored so
# only PyPI (and, for the CPU torch wheel, TORCH_WHEELS) is asked.
UPGRADE ?= 0
COMPILE := env -u PIP_FIND_LINKS -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND="make lock" \
	$(BIN)/pip-compile -q \
	--generate-hashes --strip-extras --no-emit-find-links -c requirements/constraints.txt \
	$(if $(filter 1,$(UPGRADE)),--upgrade)
lock:
	test -x $(BIN)/pip-compile || { echo "pip-tools comes with the venv: run make once"; exit 1; }
	$(COMPILE) --allow-unsafe --extra api -o requirements/api.lock \
	  pyproject.toml requirements/build.in
	$(COMPILE) --find-links $(TORCH_WHEELS) --unsafe-package torchvision \
	  --extra api --extra worker --extra dev -o requirements/dev.lock \
	  pyproject.toml requirements/build.in requirements/no-deps.in
	$(COMPILE) --unsafe-package torchvision --unsafe-package onnxruntime \
	  --extra worker -o requirements/gpu.lock \
	  pyproject.toml requirements/build.in requirements/no-deps.in requirements/gpu.in
	$(BIN)/python -m pytest -q tests/unit/test_lock.py

clean:
	rm -rf var/ .pytest_cache
