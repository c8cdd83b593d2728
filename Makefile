# `make demo` runs the local demo, `make test` every test; both install what they need
# (the Python tools into .venv from infra/requirements.txt, the crates through cargo).
SHELL := bash
.DEFAULT_GOAL := help
.PHONY: help demo test lint measure bench stack-up stack-down

help:
	@echo "make demo     the local demo: signed webhooks through the receiver into local SQS"
	@echo "make test     every test: Rust (unit, handler, SDK mocks, binaries on moto), then SAM"
	@echo "make lint     cargo fmt --check, clippy -D warnings, shellcheck and ruff"
	@echo "make measure  binary size, arm64 zip size, start-to-first-answer time"
	@echo "make bench    side-by-side benchmark: the receiver against a Python peer and the floor"

demo:
	infra/demo.sh

test:
	infra/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	[ -x .venv/bin/python ] || python3 -m venv .venv
	.venv/bin/pip install --disable-pip-version-check --quiet -r infra/requirements-lint.txt
	.venv/bin/python infra/lint.py

measure:
	infra/measure.sh

bench:
	infra/bench/bench.sh

stack-up:
	infra/local-stack.sh up

stack-down:
	infra/local-stack.sh down
