# The two commands of the README: `make demo` and `make test`. Everything else is a building block.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= uv

help:
	@echo "make demo     - replay the seed incident on the embedded local cluster (installs what it needs)"
	@echo "make test     - lint, type-check and run the whole test suite (installs what it needs)"
	@echo "make bootstrap, make control-plane, make argo-rollouts, make cluster-up, make cluster-down, make lint, make bench"

bootstrap:
	bash scripts/bootstrap.sh

control-plane:
	bash scripts/build-control-plane.sh

argo-rollouts:
	bash scripts/build-argo-rollouts.sh

lint: bootstrap
	$(UV) run --frozen ruff check receiver harness tests bench demo
	$(UV) run --frozen ruff format --check receiver harness tests bench demo
	$(UV) run --frozen mypy
	$(UV) run --frozen lint-imports
	$(UV) run --frozen python -m receiver.config.schema --check charts/rollback-receiver/values.schema.json
	bash scripts/generate-podtemplate-schema.sh --check

test: bootstrap lint
	$(UV) run --frozen pytest

cluster-up: bootstrap
	$(UV) run --frozen python -m harness up

cluster-down:
	$(UV) run --frozen python -m harness down

demo: bootstrap
	$(UV) run --frozen python -m demo

bench: bootstrap
	$(UV) run --frozen python bench/webhook.py
	$(UV) run --frozen python bench/undo.py

bench-time-to-rollback: bootstrap  # about 30 minutes: bench/README.md
	$(UV) run --frozen python bench/time_to_rollback.py --runs 20

.PHONY: help bootstrap control-plane argo-rollouts lint test cluster-up cluster-down demo bench bench-time-to-rollback
