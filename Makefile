# Two commands on a fresh machine: `make test` and `make dev`. Everything else is installed here.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CACHE := .cache
DDB_VERSION := 2.9.30
DDB_JAR := $(CACHE)/dynamodb-local/package/emulator/DynamoDBLocal.jar
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen

.PHONY: help deps uv python-deps java chromium dynamodb-local lint typecheck unit integration test bench bench-simulate dev demo preview clean

help:
	@echo "make test   install everything and run every check and test"
	@echo "make dev    run ripen locally"
	@echo "make preview  render every email to preview/ (HTML, text, .eml, phone screenshots)"
	@echo "make bench  benchmarks (not part of make test); make bench-simulate: the simulation one only"
	@echo "make lint | typecheck | unit | integration | clean"

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		{ echo "installing uv"; python3 -m pip install --quiet --disable-pip-version-check uv; }

python-deps: uv
	$(UV) sync --frozen

java:
	@command -v java >/dev/null 2>&1 || { \
		echo "installing Java 17 for DynamoDB Local"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openjdk-17-jre-headless; }

chromium:
	@test -x /usr/bin/chromium || { \
		echo "installing Debian's chromium for the browser tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

dynamodb-local: $(DDB_JAR) java

$(DDB_JAR):
	@mkdir -p $(CACHE)/dynamodb-local
	cd $(CACHE)/dynamodb-local && npm pack --silent amplify-dynamodb-simulator@$(DDB_VERSION) >/dev/null \
		&& tar -xzf amplify-dynamodb-simulator-$(DDB_VERSION).tgz && rm amplify-dynamodb-simulator-$(DDB_VERSION).tgz
	@test -f $(DDB_JAR)

deps: python-deps dynamodb-local chromium

lint: python-deps
	$(RUN) ruff check functions tests benchmarks
	$(RUN) ruff format --check functions tests benchmarks
	$(RUN) ripen lint templates
	$(RUN) ripen preview templates --out test-artifacts/preview

typecheck: python-deps
	$(RUN) mypy

unit: python-deps
	$(RUN) pytest tests/unit -q

integration: deps
	$(RUN) pytest tests/integration -q

test: deps lint typecheck
	$(RUN) pytest -q

preview: python-deps chromium
	$(RUN) ripen preview templates --out preview --screenshots

# Benchmarks print each figure with its target; they are not tests and `make test` skips them.
bench: deps  # runs both, fails if either missed its target
	$(RUN) python -m benchmarks.sweep_idle; sweep=$$?; $(RUN) python -m benchmarks.simulate && exit $$sweep

bench-simulate: python-deps
	$(RUN) python -m benchmarks.simulate

dev: deps
	$(RUN) ripen demo --sequence trial-nurture --click pricing

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache .hypothesis $(CACHE) simulation-report.html
