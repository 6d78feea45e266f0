# The template's own tasks. Two commands on a fresh machine: `make demo`, then `make test`.
.DEFAULT_GOAL := help
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
DEMO_DIR ?= $(CURDIR)/.demo/my-model
# Python's default: each module's bytecode is cached on first import. Where the environment turns
# that off (PYTHONDONTWRITEBYTECODE: CI images, this repository's CI machine), every Python process
# compiles the SageMaker SDK from source again, 3 s per `mlops` call, and the tests make hundreds.
# (Compiling whole venvs at install, UV_COMPILE_BYTECODE, costs more: 16,000 files, 38 s a venv.)
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help uv demo test package-test template-test lint package docs bench bench-tuning bench-gate clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

demo: uv ## Generate a project (defaults) into .demo/ and run its whole workflow
	$(UV) run --quiet python scripts/demo.py "$(DEMO_DIR)"

# The platform package's suite runs on a project rendered from this checkout, once per preset
# (between them they take every branch the package has for a project's shape), in its own venv.
# The presets, one after the other, run beside the template's suite (`make test` passes -j), each
# one's output printed whole when it ends; the template's suite on two xdist workers.
PACKAGE_PRESETS := xgboost sklearn-tuning
PACKAGE_VENV := $(CURDIR)/.cache/package-venv

test: uv ## The package's suite per preset, and the questions, render matrix and update tests
	$(UV) run --quiet ruff check .
	$(UV) run --quiet ruff format --check .
	cd sagemaker-gitops && UV_PROJECT_ENVIRONMENT=$(PACKAGE_VENV) $(UV) sync --quiet
	@$(MAKE) --no-print-directory --jobs=2 --output-sync=target package-test template-test

# The presets one after the other, beside the template's two workers: three busy processes on a
# two-core machine spend less CPU than four (docs/performance.md).
package-test:
	@status=0; for preset in $(PACKAGE_PRESETS); do \
		$(MAKE) --no-print-directory package-test-$$preset || status=1; done; exit $$status

# --durations: each suite ends with its slowest tests, where the CI budget (docs/performance.md) goes.
package-test-%:
	cd sagemaker-gitops && MLOPS_TEST_PRESET=$* UV_PROJECT_ENVIRONMENT=$(PACKAGE_VENV) $(UV) run --no-sync --quiet pytest --durations=15

template-test:
	$(UV) run --quiet pytest -n 2 --dist loadgroup --durations=15

# actionlint from the `lint` group, as in the generated projects' Makefile.
ACTIONLINT ?= $(UV) run --quiet --group lint actionlint

lint: uv ## ruff on the template's own Python; actionlint, zizmor and GitHub's schema on its workflows
	$(UV) run --quiet ruff check .
	$(UV) run --quiet ruff format --check .
	$(ACTIONLINT)
	$(UV) run --quiet zizmor --offline .github
	$(UV) run --quiet check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

package: uv ## Build sagemaker-gitops into dist/ (RELEASE=X.Y.Z: refuse unless that is its version)
	@version=$$($(UV) version --short --project sagemaker-gitops); \
	if [ -n "$(RELEASE)" ] && [ "$(RELEASE)" != "$$version" ]; then \
		echo "error: the tag is $(RELEASE) but sagemaker-gitops/pyproject.toml says $$version: one release, one version"; \
		exit 1; fi
	$(UV) build --quiet sagemaker-gitops --out-dir dist

docs: uv ## Serve the documentation site at http://127.0.0.1:8000 (the tests build it with --strict)
	NO_MKDOCS_2_WARNING=1 $(UV) run mkdocs serve

bench: uv ## Measure copy time and time-to-green; see docs/performance.md
	$(UV) run --quiet python scripts/bench.py

bench-tuning: uv ## Random vs Bayesian local tuning, same budget; see docs/performance.md
	$(UV) run --quiet python scripts/bench_tuning.py

bench-gate: uv ## The gate's defaults against every split of the bundled sample; see docs/performance.md
	$(UV) run --quiet python scripts/bench_gate_defaults.py

clean: ## Remove the demo project, the test virtualenvs and built packages
	rm -rf .demo .cache dist
