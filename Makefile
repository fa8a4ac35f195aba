# strangler — the two commands a person needs are `make test` and `make demo`.
# Both install what is missing (apt, npm, Go modules and tools) on a fresh Debian machine.

SHELL   := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
TOOLS   := $(CURDIR)/.tools/bin
BIN     := $(CURDIR)/bin/strangler

# staticcheck is pinned: 2026.2.2 is module version v0.8.2.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)

include mk/stack.mk

.DEFAULT_GOAL := help
.PHONY: lambda help deps build test lint console-assets fmt-check vet staticcheck layout commits unit demo clean fuzz fuzz-short

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

deps: ## Download the Go modules
	@$(GO) mod download

build: deps ## Build bin/strangler
	@$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/strangler

# The Lambda functions of the new side (cmd/lambda/*): bootstrap binaries for
# provided.al2023 on arm64, each zipped as bin/lambda/<function>.zip.
LAMBDAS := orders processor outbox

lambda: deps ## Build the Lambda zips (bin/lambda/<fn>.zip, provided.al2023 arm64)
	@for fn in $(LAMBDAS); do \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w" \
	    -o bin/lambda/$$fn/bootstrap ./cmd/lambda/$$fn || exit 1; \
	  $(GO) run ./scripts/lambdazip -o bin/lambda/$$fn.zip bin/lambda/$$fn/bootstrap || exit 1; \
	  echo "lambda: bin/lambda/$$fn.zip"; \
	done

$(STATICCHECK):
	@mkdir -p $(TOOLS)
	@echo "tools: installing staticcheck $(STATICCHECK_VERSION)"
	@GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@mv $(TOOLS)/staticcheck $(STATICCHECK)

fmt-check: ## Fail when a file is not gofmt-ed
	@out="$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt: these files need gofmt -w:"; echo "$$out"; exit 1; fi

vet: deps ## go vet
	$(GO) vet ./...

staticcheck: deps $(STATICCHECK) ## staticcheck (pinned)
	$(STATICCHECK) ./...

layout: deps ## Check the layout rules (parts never import parts, internal/ imports no part, functions within 100 lines)
	$(GO) test -count=1 ./internal/layout

commits: ## Check that commit subjects are at most 72 characters
	@scripts/check-commits.sh

lint: fmt-check vet staticcheck layout commits ## gofmt, go vet, staticcheck, the layout rules and commit subjects

# The demo test runs alone after the package tests: the load it makes on
# DynamoDB Local would otherwise stretch the other tests' time bounds.
DEMO_TEST := ^TestDemoEndToEnd$$
# The history check (issue 15: one writer per order) runs alone for the
# same reason, verbose so that its figures (operations, acknowledged, lost,
# 409s) are in the output, and without the race detector: it slows the
# in-process services about fivefold, which thins the history it judges
# (the rest of internal/e2e runs with it).
HISTORY_TEST := ^TestHistoryOneWriter$$

# The console's browser assets: npm ci of console/web (uPlot, pinned by its
# package-lock.json), then the built files are compared with the copies in
# console/assets/vendor, which go:embed serves. The copies are committed so
# that go build and go vet work from a clone without npm; this step proves
# they are the pinned package's files (and refreshes them when the pin moves).
CONSOLE_WEB    := console/web
CONSOLE_VENDOR := console/assets/vendor
CONSOLE_FILES  := uPlot.iife.min.js uPlot.min.css

console-assets: ## Install the console's pinned npm packages and check the embedded copies
	@command -v npm >/dev/null || { echo "console-assets: npm not found; make stack-up installs it (apt-get install -y nodejs npm)"; exit 1; }
	@if [ ! -f $(CONSOLE_WEB)/node_modules/.package-lock.json ] || ! cmp -s $(CONSOLE_WEB)/package-lock.json $(CONSOLE_WEB)/node_modules/.lock-stamp; then \
	  echo "console-assets: npm ci in $(CONSOLE_WEB)"; \
	  (cd $(CONSOLE_WEB) && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	  cp $(CONSOLE_WEB)/package-lock.json $(CONSOLE_WEB)/node_modules/.lock-stamp; \
	fi
	@for f in $(CONSOLE_FILES); do \
	  if ! cmp -s $(CONSOLE_WEB)/node_modules/uplot/dist/$$f $(CONSOLE_VENDOR)/$$f; then \
	    cp $(CONSOLE_WEB)/node_modules/uplot/dist/$$f $(CONSOLE_VENDOR)/$$f; \
	    echo "console-assets: $(CONSOLE_VENDOR)/$$f updated from the pinned package: commit it"; exit 1; \
	  fi; \
	done

test: stack-up console-assets lint ## Bring the stack up, lint, run the package tests with the race detector, the history check, the demo test, then the fuzzers (3s each)
	$(GO) test -race -count=1 -timeout 15m -skip '$(DEMO_TEST)|$(HISTORY_TEST)' ./...
	@echo "console: browser screenshots in $(CURDIR)/.artifacts/console/"
	$(GO) test -count=1 -timeout 5m -v -run '$(HISTORY_TEST)' ./internal/e2e
	@$(MAKE) --no-print-directory test-mysql
	$(GO) test -race -count=1 -timeout 10m -run '$(DEMO_TEST)' ./cmd/strangler
	@$(MAKE) --no-print-directory fuzz-short

# The MySQL flavor: the suites that read a source run again with a
# devstack/mysqlsource (MySQL 8 over the real protocol) in front of each
# test's database (STRANGLER_TEST_SOURCE=mysql; see README, "Tested versions").
# Of the cdc's stack tests (the whole suite is about 3 minutes a flavor),
# those whose source's flavor matters run again: every change kind, the
# sync-back's transactions not echoed (MySQL GTIDs), the start positions
# and the backfill beside the cdc (about 20 s). TestStackMySQLEndToEnd runs
# on the MySQL source in the first pass already.
MYSQL_FLAVOR_PKGS := ./migrator ./legacy ./syncback
MYSQL_FLAVOR_CDC  := ^(TestStackEveryChangeKind|TestStackSyncbackNotEchoed|TestStackStartPositions|TestStackBackfillConcurrentUnderLoad)$$

test-mysql: ## Run the source-reading suites on the MySQL flavor (part of make test; needs the stack)
	STRANGLER_TEST_SOURCE=mysql $(GO) test -race -count=1 -timeout 10m $(MYSQL_FLAVOR_PKGS)
	STRANGLER_TEST_SOURCE=mysql $(GO) test -race -count=1 -timeout 5m -run '$(MYSQL_FLAVOR_CDC)' ./cdc

fuzz-short: ## Run every fuzz test for 3s (part of make test)
	@FUZZTIME=3s GO=$(GO) scripts/fuzz.sh

fuzz: ## Run every fuzz test for FUZZTIME (default 60s) each
	@FUZZTIME=$${FUZZTIME:-60s} GO=$(GO) scripts/fuzz.sh

demo: stack-up build ## Run the migration story on the local stack
	@BIN=$(BIN) scripts/demo.sh

clean: ## Remove build output (not the stack; see stack-reset)
	rm -rf bin
