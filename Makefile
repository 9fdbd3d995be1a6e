# admit — make help lists the targets.
GO      ?= go
BIN     := bin
CORPUS  ?= ../shared/corpus
# VERSION is what every binary prints with -version and the agent reports to
# the fleet as its firmware.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X admit/internal/version.Version=$(VERSION)
GATESET ?= var/gateset

.DEFAULT_GOAL := help
.PHONY: help deps build run test bench eval clean clean-demo

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## install missing system packages (libopencv-dev, pkg-config) with apt-get
	@build/install-deps.sh

build: deps ## build admit-fleet, admit-agent, admitctl, admit-demo and admit-loadgen into bin/
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

run: build ## run the fleet and a simulated venue of three gates (demo data in var/demo); prints the console URL
	$(BIN)/admit-demo -addr 127.0.0.1:8080 -data var/demo -gates 3

test: ## vet, then every test (unit, fuzz seeds, end to end, browser, corpus evaluation)
	@build/install-deps.sh test
	$(GO) vet ./...
	$(GO) test -timeout 30m ./...

bench: deps ## run the benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

eval: deps ## decoder read rates, false positives and timing: the shared corpus, then our gate-conditions set (generated into var/gateset), still and as a gate after 1, 3 and 30 frames
	$(GO) build -o $(BIN)/decode-eval ./decode/eval/cmd/decode-eval
	$(BIN)/decode-eval -corpus $(CORPUS) -rotations 0,90,180,270 -baseline
	$(BIN)/decode-eval -corpus $(CORPUS) -rotations 0 -baseline -gate -frames 3
	$(BIN)/decode-eval -generate $(GATESET)
	$(BIN)/decode-eval -corpus $(GATESET)
	for n in 1 3 30; do $(BIN)/decode-eval -corpus $(GATESET) -gate -frames $$n || exit 1; done

clean: ## remove build outputs (bin/); never touches data
	rm -rf $(BIN)

clean-demo: ## remove the demo's data (var/demo: its fleet and gates), nothing else
	rm -rf var/demo
