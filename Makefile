# The commands a newcomer needs. Each is a script in scripts/ that installs
# what it lacks (scripts/setup) first.
.PHONY: test check local bench setup build events fmt

## make test: format, clippy, unit + emulator tests (moto), the local story, template and ASL checks
test:
	scripts/test

## make check: the inner loop: fmt, clippy, unit tests (a minute or two warm;
## no moto, no containers, no browser)
check:
	scripts/check

## make local: the pipeline's story on this machine (approve in your browser;
## make local ARGS=--yes approves by itself)
local:
	scripts/local $(ARGS)

## make bench: release builds, then cold start, memory, size and latency of the
## functions against a floor built in the same run (docs/explanation/performance.md)
bench:
	scripts/bench $(ARGS)

## make setup: install the Python and node tools into the project (.venv, node_modules)
setup:
	scripts/setup

## make build: release binaries for Lambda with cargo-lambda (see docs/tutorial/first-deploy.md for the target)
build: setup
	scripts/build

## make events: regenerate events/ from `sam local generate-event`
events: setup
	scripts/make-events

fmt:
	cargo fmt --all
