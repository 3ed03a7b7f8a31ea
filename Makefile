# sslcourse: every target bootstraps .venv on first use and reinstalls only when pyproject.toml changes.
#   make course      release + lectures + demo grading + build/index.html  (the main job, offline)
#   make test        the whole test suite (installs what it needs first)
#   make release     regenerate exercises/ from solutions/
#   make lectures    execute lectures/*.ipynb, render HTML + slides into build/lectures/
#   make vendor      npm ci the pinned browser assets (reveal.js, MathJax, ...) that build/vendor/ gets
#   make checkpoints remake the shipped pretrained encoders (sslcourse/checkpoints/*.pt + .json; CPU, ~7.8 h on one thread)
#   make autograde   grade submitted/<student>/<assignment>/ (ZIPS=folder of LMS zips, JOBS=N in parallel)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
JOBS   ?= 1
ZIPS   ?=
PYTEST_ARGS ?=

VENDOR := sslcourse/course/vendor
VENDOR_STAMP := $(VENDOR)/node_modules/.package-lock.json

.PHONY: course test release lectures autograde checkpoints install vendor clean

install: $(STAMP) vendor

# A new .venv takes about 6.5 GB (torch with its CUDA libraries): say so before pip runs out of room.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { avail=$$(df -Pk . | awk 'NR==2 {print $$4}'); \
	  if [ "$$avail" -lt 7500000 ]; then echo "make install: a new $(VENV) needs about 7 GB of disk and \
	$$(pwd) has $$((avail / 1000000)) GB free; free some space (old clones, /tmp) and run make again." >&2; exit 1; fi; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

# The pages' browser assets (sslcourse/course/assets.py); without npm the lectures still render, with CDN links.
vendor: $(VENDOR_STAMP)

$(VENDOR_STAMP): $(VENDOR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(VENDOR) --ignore-scripts --no-audit --no-fund --loglevel=error \
	    --fetch-retries=1 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=5000 \
	  || echo "vendor: npm ci failed; the rendered lectures will load reveal.js and MathJax from CDNs"; \
	else echo "vendor: npm not found; the rendered lectures will load reveal.js and MathJax from CDNs"; fi

course: $(STAMP) vendor
	$(BIN)/sslcourse course --jobs $(JOBS)

release: $(STAMP)
	$(BIN)/sslcourse release

lectures: $(STAMP) vendor
	$(BIN)/sslcourse render --out build/lectures

checkpoints: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/sslcourse pretrain --all

autograde: $(STAMP)
	$(BIN)/sslcourse autograde --jobs $(JOBS) $(if $(ZIPS),--zips $(ZIPS),)

# Two workers on two cores, one thread each; grading tests stay together on one worker (loadgroup).
test: $(STAMP) vendor
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadgroup -q $(PYTEST_ARGS) tests

clean:
	rm -rf build autograded feedback gradebook.db autograde-grades.csv
