# Order Management Service: developer and CI entry points (GNU make). `make help` lists them.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

STAGE ?= dev
# chalice package refuses to run without a region; nothing is deployed, so any region will do.
export AWS_DEFAULT_REGION ?= us-east-1

VENV := .venv
PY := $(VENV)/bin/python
# chalice picks the Lambda runtime from the interpreter it runs under (3.11 -> python3.11), so the
# venv must be 3.11 for the packaged runtime to match the one the tests ran on.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
STAMP := $(VENV)/.requirements.stamp
OUT := out

.PHONY: help venv test test-unit test-integration test-e2e lint shape package cfn-lint deploy deploy-check run bench chaos clean

help:
	@echo "make venv       create $(VENV) (Python 3.11) with requirements-dev.txt"
	@echo "make test       run the whole test suite (the three below)"
	@echo "make test-unit  tests/unit: pure, with in-memory fakes (the quick one)"
	@echo "make test-integration"
	@echo "                tests/integration: routes and handlers against the stack in moto"
	@echo "make test-e2e   tests/e2e: the local stack over real HTTP"
	@echo "make lint       ruff check, ruff format --check, mypy (chalicelib, infra, tools)"
	@echo "make shape      chalicelib's shape: modules up to 600 lines, at most two functions over 60"
	@echo "make package    chalice package STAGE=$(STAGE) into $(OUT)/ merged with infra/template.yaml"
	@echo "                (HTTP_API=1: an API Gateway HTTP API instead of the REST API; docs/performance.md)"
	@echo "make cfn-lint   cfn-lint the infra template and the packaged template"
	@echo "make deploy     package, upload and deploy STAGE to AWS; prints the API URL (docs/deploy.md)"
	@echo "                (BUCKET=<your S3 bucket> SENDER_EMAIL=<SES-verified address>; STACK_NAME, REGION)"
	@echo "make deploy-check  rehearse the deploy of the packaged template in emulated AWS (no account)"
	@echo "make run        the local stack (moto + app + event pump), no AWS account needed"
	@echo "make bench      benchmarks"
	@echo "make chaos      N orders through the local stack under injected faults, then the invariants"
	@echo "                (ORDERS=50 OMS_FAULT_RATE=0.2 OMS_DUPLICATE_RATE=0.3 OMS_FAULT_SEED=1)"
	@echo "make clean      remove build output and caches"

venv: $(STAMP)

# Re-installs only when a requirements file changes (the stamp is newer otherwise).
$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "python3.11 not found" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
		|| { echo "$(VENV) must be Python 3.11 (got $$($(PY) -V)); remove it or set PYTHON=" >&2; exit 1; }
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

# PYTEST_ARGS passes options on, e.g. make test-unit PYTEST_ARGS="-x -k stock".
PYTEST_ARGS ?=

test: venv
	$(VENV)/bin/pytest -n 2 $(PYTEST_ARGS) tests

test-unit: venv
	$(VENV)/bin/pytest $(PYTEST_ARGS) tests/unit

test-integration: venv
	$(VENV)/bin/pytest -n 2 $(PYTEST_ARGS) tests/integration

test-e2e: venv
	$(VENV)/bin/pytest -n 2 $(PYTEST_ARGS) tests/e2e

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy chalicelib infra tools

# tests/unit/test_code_shape.py runs the same check.
shape: venv
	$(PY) -m tools.code_shape

# Three steps, one template: chalice packages the functions; infra/lambda_package.py keeps only the
# AWS SDK models of the services the functions call and adds every module's bytecode
# (docs/performance.md, "The package"); then infra/build_merge.py merges infra/template.yaml into the
# result and points every event source and environment variable at the template's own resources.
# Why not `--merge-template`: see infra/build_merge.py's docstring (a merge template cannot replace
# chalice's Fn::Sub queue ARNs with Fn::GetAtt).
package: venv
	rm -rf $(OUT)
	$(VENV)/bin/chalice package --stage $(STAGE) $(OUT)/
	$(PY) -m infra.lambda_package $(OUT)/deployment.zip
	$(PY) -m infra.build_merge --stage $(STAGE) $(if $(HTTP_API),--http-api) $(OUT)/sam.json

cfn-lint: package
	$(VENV)/bin/cfn-lint infra/template.yaml $(OUT)/sam.json

# docs/deploy.md. The first deploy of a stage also mints its first admin API key and prints it once.
STACK_NAME ?= oms-$(STAGE)
deploy: package
	@test -n "$(BUCKET)" || { echo "BUCKET= is required: an S3 bucket of yours for the package" >&2; exit 2; }
	@test -n "$(SENDER_EMAIL)" || { echo "SENDER_EMAIL= is required: the SES-verified sender" >&2; exit 2; }
	$(PY) -m tools.deploy --stage $(STAGE) --bucket $(BUCKET) --sender-email $(SENDER_EMAIL) \
		--stack-name $(STACK_NAME) $(if $(REGION),--region $(REGION))

# The packaged template through tools/deploy.py's own code, against AWS emulated by moto.
deploy-check: package
	$(PY) -m tools.deploy_check --template $(OUT)/sam.json --package $(OUT)/deployment.zip

run: venv
	$(PY) -m infra.local

bench: venv
	@if [ -d bench ]; then $(PY) -m bench; else echo "no bench/ yet"; fi

# docs/reliability.md: what is injected, what is checked, the figures of the last run.
ORDERS ?= 50
chaos: venv
	$(PY) -m tools.chaos --orders $(ORDERS)

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache .hypothesis test-output
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
