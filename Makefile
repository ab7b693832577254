# The two promised commands: `make run` (the whole stack, embedded) and `make test`.
# Each sets itself up (virtual environment, demo bundles) and is safe to run again.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha256sum | cut -c1-12)

.PHONY: run test lint clean system-deps

# Debian packages the tests use: Chromium for the browser tests, docker-compose to parse the
# compose file. Installed when missing (as root with apt-get); otherwise the tests that need
# them say what is missing.
SYSTEM_TOOLS := docker-compose:docker-compose chromium:chromium

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch lies on this machine's disk; install it first, pinned.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[api,worker,dev]'
	# onnx2torch pins torchvision, which does not import beside the CPU torch wheel;
	# services/worker/twin.py provides what onnx2torch needs from it.
	$(BIN)/pip install -q --no-deps onnx2torch==1.5.15
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/xai run

test: $(STAMP) system-deps
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
	$(BIN)/ruff check shared services tests bench

clean:
	rm -rf var/ .pytest_cache
