# The template's own tasks. Two commands on a fresh machine: `make demo`, then `make test`.
.DEFAULT_GOAL := help
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
DEMO_DIR ?= $(CURDIR)/.demo/my-model

.PHONY: help uv demo test lint docs bench bench-tuning clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

demo: uv ## Generate a project (defaults) into .demo/ and run its whole workflow
	$(UV) run --quiet python scripts/demo.py "$(DEMO_DIR)"

test: uv ## Validators, the render matrix, and every rendered project's own lint + tests
	$(UV) run --quiet ruff check .
	$(UV) run --quiet ruff format --check .
	$(UV) run --quiet pytest

lint: uv ## ruff on the template's own Python
	$(UV) run --quiet ruff check .
	$(UV) run --quiet ruff format --check .

docs: uv ## Serve the documentation site at http://127.0.0.1:8000 (the tests build it with --strict)
	NO_MKDOCS_2_WARNING=1 $(UV) run mkdocs serve

bench: uv ## Measure copy time and time-to-green; see docs/performance.md
	$(UV) run --quiet python scripts/bench.py

bench-tuning: uv ## Random vs Bayesian local tuning, same budget; see docs/performance.md
	$(UV) run --quiet python scripts/bench_tuning.py

clean: ## Remove the demo project and the shared test virtualenv
	rm -rf .demo .cache
