# Microsoft CSP for Odoo: the two commands are `make demo` and `make test` (see README.md).
# `make test` and `make demo` build and use .venv/ (Odoo 18.0 from ODOO_SOURCE) unless PYTHON
# is set to a Python that imports Odoo 18.0; `make lint` uses .venv/ once it exists.
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
ADDONS := csp_connector csp_connector_billing csp_connector_assets csp_connector_queue

.PHONY: help demo test lint format readme dist bench-users bench-assets bench-licences \
	bench-billing bench-prices bench-azure bench-scale

help:
	@echo "make demo   start the Microsoft sandbox and an Odoo with the three add-ons"
	@echo "make test   lint, install the add-ons in a fresh database, run all tests"
	@echo "            (both build .venv/ with Odoo 18.0 from ODOO_SOURCE unless PYTHON is set)"
	@echo "make test T=<test file, directory or add-on>"
	@echo "            only those tests, without lint, against a database kept between runs"
	@echo "            (updated when the add-ons changed); several: T=\"a b\""
	@echo "make lint   pre-commit: ruff, ruff-format, pylint-odoo, OCA module/XML checks,"
	@echo "            README.rst current with readme/"
	@echo "make readme regenerate each add-on's README.rst from its readme/ fragments"
	@echo "make dist   one wheel per add-on (odoo-addon-<name>, whool) into dist/"
	@echo "make bench-users   user import benchmark (100 tenants x 500 users)"
	@echo "make bench-assets  device import benchmark (100 tenants x 500 Intune devices)"
	@echo "make bench-licences   licences benchmark (200 customers x 10 subscriptions)"
	@echo "make bench-billing    contract invoicing with pro-rata lines against without"
	@echo "make bench-azure      Azure usage import (1,000,000 records over 100 customers)"
	@echo "                      (500 customers x 10 subscriptions, 5% changed mid-cycle)"
	@echo "make bench-prices     a 100,000-row price sheet imported, then again unchanged"
	@echo "make bench-scale      500 tenants x 50 users at 150 ms a request: serial against"
	@echo "                      queue_job with 1 and 8 jobs over two Odoo processes"

demo:
	@bash scripts/demo.sh

# make test T=<test file, directory or add-on>: those tests only, against a kept database
# (scripts/test_some.sh); without T, what CI runs (scripts/test.sh)
test:
ifeq ($(strip $(T)),)
	@bash scripts/test.sh
else
	@bash scripts/test_some.sh $(T)
endif

bench-users:
	@bash scripts/bench_users.sh

bench-assets:
	@bash scripts/bench_assets.sh

bench-licences:
	@bash scripts/bench_licences.sh

bench-billing:
	@bash scripts/bench_billing.sh

bench-prices:
	@bash scripts/bench_prices.sh

bench-azure:
	@bash scripts/bench_azure.sh

bench-scale:
	@bash scripts/bench_scale.sh

# the hooks of .pre-commit-config.yaml run their tools with CSP_PYTHON
lint:
	CSP_PYTHON=$(PYTHON) $(PYTHON) -m pre_commit run --all-files --show-diff-on-failure --color=never

readme:
	$(PYTHON) scripts/gen_readme.py

dist:
	PYTHON=$(PYTHON) bash scripts/dist.sh

format:
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .
