# Sluice — the commands users and CI share. Every target bootstraps what it needs on a fresh machine:
# a pinned uv in .tools/uv, the project's locked environment in .venv, SAM CLI in its own .tools/sam.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
SAM_CLI_VERSION := 1.170.0
UV := .tools/uv/bin/uv
SAM := .tools/sam/bin/sam
CHECKOV_VERSION := 3.3.30
CHECKOV := .tools/checkov/bin/checkov
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
REGION ?= us-east-1
PYTEST_ARGS ?=

.PHONY: bootstrap demo test lint unit fmt bench build deploy deploy-prod clean

bootstrap: $(VENV)/.synced

$(UV):
	$(PYTHON) -m venv .tools/uv
	.tools/uv/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --python $(PYTHON) --quiet
	touch $@

$(SAM): | $(UV)
	$(UV) venv --quiet --python $(PYTHON) .tools/sam
	VIRTUAL_ENV=.tools/sam $(UV) pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)

# checkov pins clash with the app's boto3: it gets its own environment too.
$(CHECKOV): | $(UV)
	$(UV) venv --quiet --python $(PYTHON) .tools/checkov
	VIRTUAL_ENV=.tools/checkov $(UV) pip install --quiet checkov==$(CHECKOV_VERSION)

## make demo — the whole story on the embedded AWS emulator (moto server), no AWS account needed.
demo: bootstrap
	$(BIN)/python -m sluice_cli.sandbox.demo

## make test — lint (ruff, mypy, cfn-lint, sam validate --lint, bandit) and the whole test suite.
test: lint
	$(BIN)/pytest -n 2 --dist loadfile --cov --cov-report=term --cov-report=xml $(PYTEST_ARGS)

lint: bootstrap $(SAM) $(CHECKOV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml --region $(REGION)
	BC_SKIP_MAPPING=TRUE $(CHECKOV) --quiet --config-file .checkov.yaml --file template.yaml --skip-download
	$(BIN)/bandit --quiet --recursive functions
	@# The sandbox's dummy credentials ('testing') and its asserts are deliberate; nothing else is skipped.
	$(BIN)/bandit --quiet --recursive cli --skip B101,B105,B106

fmt: bootstrap
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## make bench — throughput figures, each as a ratio against a reference measured in the same run.
bench: bootstrap
	$(BIN)/python benchmarks/bench_artifact.py

## make build — sam build needs a real python3.13 first on PATH (pyenv shims are not enough).
build: $(SAM)
	PATH="$$(dirname $$(pyenv which python3.13 2>/dev/null || command -v python3.13)):$$PATH" \
		$(SAM) build --template template.yaml

deploy: build
	$(SAM) deploy --guided

deploy-prod: build
	$(SAM) deploy --config-env prod

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis .sandbox sandbox-report
