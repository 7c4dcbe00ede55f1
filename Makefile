# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU wheel of torch (on these machines it lies on local disk). For an NVIDIA GPU, see README "CUDA".
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
DEMO_DIR ?= $(HOME)/.cache/ichview/demo-study
OUT_DIR ?= $(HOME)/.cache/ichview/demo-output

.PHONY: run test install bench package test-package install-desktop train clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ichview demo "$(DEMO_DIR)"
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" = Darwin ] || [ -n "$$QT_QPA_PLATFORM" ]; then \
		$(BIN)/ichview "$(DEMO_DIR)"; \
	else \
		echo "No display found (DISPLAY and WAYLAND_DISPLAY are unset): the viewer needs a screen."; \
		echo "Running the headless analysis instead: ichview analyze \"$(DEMO_DIR)\" --pdf --json"; \
		mkdir -p "$(OUT_DIR)"; \
		$(BIN)/ichview analyze "$(DEMO_DIR)" --pdf "$(OUT_DIR)/findings.pdf" --json "$(OUT_DIR)/findings.json" && \
		echo "Findings written to $(OUT_DIR)/findings.pdf and $(OUT_DIR)/findings.json"; \
	fi

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/load.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/scroll.py
	$(PY) bench/infer.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/e2e.py

train: $(STAMP)
	$(BIN)/ichview train --out resources/model

package: $(STAMP)
	$(PY) -m pip install -q -e ".[package]"
	$(BIN)/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/ichview.spec

test-package: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m slow tests/packaging

install-desktop: $(STAMP)
	$(PY) -m packaging_tools.install_desktop

clean:
	rm -rf build dist .pytest_cache
