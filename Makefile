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

.PHONY: run test test-slow fuzz install bench bench-ai package test-package install-desktop uninstall-desktop train train-gpu clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ichview demo "$(DEMO_DIR)"
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" = Darwin ]; then \
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

# Whole-study checks (the second reader on whole real scans, Ray with both readers, the bundle):
# run before a change is called done.
test-slow: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m slow --ignore=tests/packaging

# The long fuzz run of the loader (2,000 single tag / byte / length changes of real slices, ~1 min).
fuzz: $(STAMP)
	ICHVIEW_FUZZ_CASES=2000 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -s tests/core/test_fuzz.py

bench: $(STAMP)
	$(PY) bench/load.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/scroll.py
	$(PY) bench/infer.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/e2e.py

# The AI benchmarks that take minutes on a CPU: the second reader against its reference package,
# triage throughput (one process, local workers, Ray), and the verdict rule on the real scans.
bench-ai: $(STAMP)
	$(PY) bench/second_read.py
	$(PY) bench/triage.py
	$(PY) bench/verdict_rule.py

train: $(STAMP)
	$(BIN)/ichview train --out resources/model

# The GPU recipe (needs a CUDA build of torch, README): a finer grid and the full network, trained in
# resumable one-hour chunks in its own work folder, then evaluated on the same fixed held-out set.
GPU_WORK ?= $(HOME)/.cache/ichview/train-gpu
train-gpu: $(STAMP)
	rc=75; while [ $$rc -eq 75 ]; do \
	  $(BIN)/ichview train --resume --device cuda --pixel-mm 1.25 --image-size 192 --arch full \
	    --batch-size 64 --steps 20000 --lr 2e-3 --warmup-steps 300 --negative-shards 8 --shards 52 \
	    --workers 8 --threads 4 --max-minutes 60 --work $(GPU_WORK) --out resources/model --version 0.4.0; \
	  rc=$$?; done; [ $$rc -eq 0 ]
	$(BIN)/ichview evaluate --work $(GPU_WORK) --write

# One-folder desktop bundle in dist/ichview/ (packaging/README.md). Bundles the torch in the venv: CPU by default.
package: $(STAMP)
	$(PY) -m pip install -q -e ".[package]"
	$(BIN)/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/ichview.spec
	@du -sh dist/ichview

# Builds the bundle if missing or older than the sources, then runs it (slow: not part of `make test`).
test-package: $(STAMP)
	$(PY) -m pip install -q -e ".[package]"
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m slow tests/packaging

# Menu entry, icons, AppStream metainfo and the DICOM MIME type for this user ($XDG_DATA_HOME, default
# ~/.local/share); launches dist/ichview/ichview when built, else the venv's ichview.
install-desktop: $(STAMP)
	$(PY) packaging/install_desktop.py

uninstall-desktop:
	$(PYTHON) packaging/install_desktop.py --uninstall

clean:
	rm -rf build dist .pytest_cache
