# The front door. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE ?= node
DEMO_START := 2023-08-29
DEMO_END := 2023-09-07
START_DATE ?=
END_DATE ?=
ARGS ?=
SCALE ?= 1
SEED ?= 42
RELIABILITY_ITERATIONS ?= 10
SCALES ?= 1 10
# scale 1 leaves 1,200-3,400 orders per scenario: the estimator's sampling noise (up to 0.11 TVD) would hide its bias
ACCURACY_SCALE ?= 2
BENCH_POSTGRES ?=
BENCH_PORT ?= $(or $(TEST_POSTGRES_PORT),55449)
AIRFLOW_VENV ?= .venv/airflow
IMAGE_PREFIX ?= attribution
IMAGE_TAG ?= latest

WINDOW = $(if $(START_DATE),--start-date $(START_DATE)) $(if $(END_DATE),--end-date $(END_DATE))
SOURCES := $(shell find tasks shared tests bench -name '*.ts' 2>/dev/null) tsconfig.json package.json scripts/bundle.mjs
STEPS := setup-db load generate-data build-journeys send-to-api process-attribution attribution-api attribute-paths fit-ihc
CONTAINER_STEPS := setup-db load build-journeys send-to-api process-attribution attribution-api

.PHONY: help setup demo pipeline test test-unit test-db-drivers test-postgres test-browser test-dags test-containers test-deps \
        test-reliability reliability bench bench-ci accuracy lint typecheck images airflow-venv airflow-ui airflow-pool clean $(addprefix task-,$(STEPS)) \
        $(addprefix task-,$(addsuffix -container,$(CONTAINER_STEPS)))

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_% -]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]+):.*## (.*)$$/\1\t\2/' | \
	  awk -F'\t' '{ if (length($$1) > 18) printf "  %s\n  %-18s %s\n", $$1, "", $$2; else printf "  %-18s %s\n", $$1, $$2 }'

# npm rewrites node_modules/.package-lock.json on every install, so it is the stamp: a hand-run
# `npm install` counts, and `npm ci` (which deletes node_modules first) runs only when the lock changed.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

dist/.built: node_modules/.package-lock.json $(SOURCES)
	npm run build
	@touch $@

setup: dist/.built ## Install dependencies, compile, and create or migrate the database
	$(NODE) dist/tasks/setup-db/main.js

demo: setup ## Fresh machine to results: demo data, loaded, then every pipeline step for 2023-08-29..2023-09-07
	$(NODE) dist/tasks/generate-data/main.js --output data/demo --scale $(SCALE) --seed $(SEED) \
	  --start-date $(DEMO_START) --end-date $(DEMO_END) --load
	$(MAKE) --no-print-directory pipeline START_DATE=$(DEMO_START) END_DATE=$(DEMO_END)

pipeline: dist/.built ## Run every step for a window: make pipeline START_DATE=YYYY-MM-DD END_DATE=YYYY-MM-DD
	$(NODE) dist/tasks/setup-db/main.js
	$(NODE) dist/tasks/build-journeys/main.js $(WINDOW)
	$(NODE) dist/tasks/send-to-api/main.js $(WINDOW)
	$(NODE) dist/tasks/process-attribution/main.js $(WINDOW)

task-setup-db task-load task-attribution-api task-attribute-paths: dist/.built ## Run one step with node: make task-<step> ARGS="..."
	$(NODE) dist/tasks/$(patsubst task-%,%,$@)/main.js $(ARGS)

task-generate-data task-build-journeys task-send-to-api task-process-attribution task-fit-ihc: dist/.built ## Run a windowed step: make task-<step> START_DATE=... END_DATE=... ARGS="..."
	$(NODE) dist/tasks/$(patsubst task-%,%,$@)/main.js $(WINDOW) $(ARGS)

test: test-deps test-unit test-db-drivers test-postgres test-reliability test-dags test-containers bench-ci ## Every test: TypeScript (both SQLite drivers), PostgreSQL, browser, DAGs, containers

test-deps: node_modules/.package-lock.json ## Install what the tests need that npm does not bring (chromium, postgresql, buildah, Airflow venv)
	bash scripts/test-deps.sh

test-unit: dist/.built ## TypeScript tests (ava) with the default SQLite driver, browser test included
	npx ava

test-db-drivers: dist/.built ## The database suites again on the other SQLite driver (node-sqlite3)
	DATABASE_SQLITE_CLIENT=sqlite3 npx ava dist/tests/db*.test.js dist/tests/consistency.test.js dist/tests/ingest.test.js dist/tests/journeys*.test.js dist/tests/process*.test.js dist/tests/reporting*.test.js

test-postgres: dist/.built ## On a throwaway PostgreSQL server: the whole pipeline vs SQLite, COPY load, concurrent windows and shards
	bash scripts/with-postgres.sh npx ava --concurrency 1 dist/tests/postgres.test.js dist/tests/ingest.postgres.test.js dist/tests/postgres-scaleout.test.js \
	  dist/tests/journeys.nonconverting-pg.test.js dist/tests/journeys.validate-pg.test.js

# tests/reliability/*.rel.ts sit outside the normal ava glob; its own config picks them up
test-reliability: dist/.built ## The reliability suite's short form (each scenario once; part of make test)
	RELIABILITY_ITERATIONS=1 bash scripts/with-postgres.sh npx ava --config tests/reliability/ava.config.mjs

reliability: dist/.built ## Reliability suite, long form: SIGKILLs, concurrent writers (SQLite, PostgreSQL), fuzzing, a leaky provider; RELIABILITY_ITERATIONS=N
	RELIABILITY_ITERATIONS=$(RELIABILITY_ITERATIONS) bash scripts/with-postgres.sh npx ava --config tests/reliability/ava.config.mjs

airflow-venv:
	bash scripts/ci-airflow-venv.sh

airflow-ui: dist/.built airflow-venv ## The Airflow UI from the venv with these DAGs and the local runner; prints the admin login
	AIRFLOW_VENV=$(AIRFLOW_VENV) bash scripts/airflow-ui.sh

airflow-pool: airflow-venv ## Create or check the one-slot pool the DAGs need on SQLite (AIRFLOW_HOME's Airflow)
	AIRFLOW_HOME="$${AIRFLOW_HOME:-$(CURDIR)/.airflow}" PATH="$(abspath $(AIRFLOW_VENV))/bin:$$PATH" bash scripts/airflow-pool.sh

test-dags: airflow-venv ## DAG tests: pytest against a real Airflow 3 in .venv/airflow
	$(AIRFLOW_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/dags

test-containers: dist/.built airflow-venv ## Build every image with buildah and run the DAG's commands in them on demo data
	E2E_STRICT=1 bash tests/containers/e2e.sh

# BENCH_POSTGRES=1 runs the whole bench inside a throwaway PostgreSQL server, which then is measured too.
BENCH_RUN = $(if $(BENCH_POSTGRES),TEST_POSTGRES_PORT=$(BENCH_PORT) bash scripts/with-postgres.sh bash -c '$(NODE) dist/bench/pipeline.bench.js --postgres "$$TEST_POSTGRES_URL" $(1)',$(NODE) dist/bench/pipeline.bench.js $(1))

bench: dist/.built ## Every step vs sqlite3 .import and bare SQL, at SCALES="1 10" (BENCH_POSTGRES=1: PostgreSQL too), plus the engine micro-benchmark
	$(call BENCH_RUN,--scales "$(SCALES)")

bench-ci: dist/.built ## The short bench that keeps `make bench` working: scale 1, SQLite, a small engine run
	$(NODE) dist/bench/pipeline.bench.js --scales 1 --journeys 20000 --work $${TMPDIR:-/tmp}/attribution-bench-ci

accuracy: dist/.built ## Every model against planted truth on every scenario (TVD, rank correlation); JSON in bench/results/
	$(NODE) dist/bench/accuracy.js --scale $(ACCURACY_SCALE)

lint: node_modules/.package-lock.json ## ESLint over the TypeScript sources
	npx eslint .

typecheck: node_modules/.package-lock.json ## Type-check without emitting
	npx tsc -p tsconfig.json --noEmit

images: ## Build all task images (docker if an engine runs, else buildah)
	IMAGE_PREFIX=$(IMAGE_PREFIX) IMAGE_TAG=$(IMAGE_TAG) bash scripts/images.sh

task-setup-db-container task-load-container task-attribution-api-container: ## Run a step in its image with ./data mounted: make task-<step>-container ARGS="..."
	IMAGE_PREFIX=$(IMAGE_PREFIX) IMAGE_TAG=$(IMAGE_TAG) bash scripts/run-container.sh $(patsubst task-%-container,%,$@) $(ARGS)

task-build-journeys-container task-send-to-api-container task-process-attribution-container: ## Run a windowed step in its image: START_DATE=... END_DATE=...
	IMAGE_PREFIX=$(IMAGE_PREFIX) IMAGE_TAG=$(IMAGE_TAG) bash scripts/run-container.sh $(patsubst task-%-container,%,$@) $(WINDOW) $(ARGS)

clean: ## Remove build output (keeps data/ and output/)
	rm -rf dist
