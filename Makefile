# bizbots: the two commands of the README are `make demo` and `make test`.
# Both do their own set-up on a fresh machine (Postgres, Dendrite, the
# Matrix client used by the end-to-end tests).

GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG := github.com/bizbots/bizbots/cmd/bizbotscmd
LDFLAGS := -X $(PKG).version=$(VERSION) -X $(PKG).commit=$(COMMIT) -X $(PKG).buildDate=$(BUILD_DATE)
# goolm: the pure-Go Olm/Megolm of mautrix (docs/encryption.md says why not libolm).
export GOFLAGS := -tags=goolm $(GOFLAGS)

.PHONY: build demo test vet deps bench perf clean packaging faults soak fuzz examples

build: ## build ./bizbots
	$(GO) build -ldflags "$(LDFLAGS)" -o bizbots ./cmd/bizbots

demo: ## Dendrite + bizbots on loopback with SQLite; prints how to log in
	bash scripts/demo.sh

deps: ## everything the test suite needs: Postgres running, Dendrite built, the Matrix client, Chromium for the console's browser tests
	bash scripts/ensure-postgres.sh
	bash scripts/build-dendrite.sh >/dev/null
	bash scripts/install-client-deps.sh
	bash scripts/install-js-client.sh
	bash scripts/install-browser.sh

test: deps ## the whole suite: vet, then every test with -race on SQLite and Postgres, end to end on Dendrite
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 60m ./...
	bash scripts/check-dockerfile.sh
	$(GO) run ./bench -quick >/dev/null
	bash scripts/fuzz.sh 3s

perf: ## bizbots side by side with a bare mautrix-go appservice (docs/PERFORMANCE.md)
	bash scripts/ensure-postgres.sh
	$(GO) run ./bench

packaging: ## run the Dockerfile's build steps without a container engine, check the image's user and healthcheck and the systemd unit
	bash scripts/check-dockerfile.sh

examples: ## build the example custom binary (its own module); run the example webhook bots' tests
	cd examples/custom-binary && $(GO) build -tags goolm -o /dev/null .
	$(GO) test -count=1 ./examples/

bench: ## benchmarks (results go into docs/PERFORMANCE.md)
	bash scripts/ensure-postgres.sh
	$(GO) test -run '^$$' -bench . -benchtime 3s -count 3 ./appservice/...

faults: deps ## the fault suite and the bad-input catalogue in their long form (docs/RELIABILITY.md)
	BIZBOTS_FAULTS=full $(GO) test -count=1 -timeout 60m -v ./internal/faults/ ./internal/crashtest/

soak: deps ## the fault mix again and again for an hour (SOAK_DURATION seconds); prints the figures
	bash scripts/soak.sh

fuzz: ## every fuzz target for FUZZTIME (default 5s) each
	bash scripts/fuzz.sh

clean:
	rm -rf bizbots .cache/bin .cache/demo
