# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DASHBOARD_ASSETS := services/audit/dashboard/node_modules/echarts/dist/echarts.min.js
DOCS_ASSETS := services/kernel/docs_assets/node_modules/swagger-ui-dist/swagger-ui-bundle.js
ASSETS := $(DASHBOARD_ASSETS) $(DOCS_ASSETS)
# The policy linter of tests/deploy, in a venv of its own: its many pinned
# dependencies must not move the project's.
CHECKOV := $(VENV)/tools/checkov/bin/checkov

.PHONY: run test lint format bench clean browser-check assets

$(STAMP): pyproject.toml verifier/pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The dashboard's ECharts, installed by version and integrity from package-lock.json.
$(DASHBOARD_ASSETS): services/audit/dashboard/package-lock.json
	npm ci --prefix services/audit/dashboard --ignore-scripts --no-audit --no-fund
	touch $@

# Swagger UI and ReDoc for every service's /docs and /redoc, by version and integrity.
$(DOCS_ASSETS): services/kernel/docs_assets/package-lock.json
	npm ci --prefix services/kernel/docs_assets --ignore-scripts --no-audit --no-fund
	touch $@

assets: $(ASSETS)

$(CHECKOV): | $(STAMP)
	$(PYTHON) -m venv $(VENV)/tools/checkov
	$(VENV)/tools/checkov/bin/pip install --quiet 'checkov==3.3.30'

run: $(STAMP) $(ASSETS)
	$(BIN)/python -m services.local

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy services tests bench verifier

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint browser-check $(ASSETS) $(CHECKOV)
	$(BIN)/pytest -q

# Page tests need Debian's Chromium; say how to get it instead of failing obscurely.
browser-check:
	@command -v chromium >/dev/null || { echo "Page tests need Debian's Chromium: run" \
	  "'apt-get update && apt-get install -y chromium chromium-driver fonts-noto-cjk'" \
	  "(.ci/run does this in CI)"; exit 1; }

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var build *.egg-info
