# admit — make help lists the targets.
GO      ?= go
BIN     := bin
CORPUS  ?= ../shared/corpus

.DEFAULT_GOAL := help
.PHONY: help deps build run test bench eval clean clean-demo

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## install missing system packages (libopencv-dev, pkg-config) with apt-get
	@build/install-deps.sh

build: deps ## build admit-fleet, admit-agent, admitctl, admit-demo and admit-loadgen into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

run: build ## run the fleet and a simulated venue of three gates (demo data in var/demo); prints the console URL
	$(BIN)/admit-demo -addr 127.0.0.1:8080 -data var/demo -gates 3

test: ## vet, then every test (unit, fuzz seeds, end to end, browser, corpus evaluation)
	@build/install-deps.sh test
	$(GO) vet ./...
	$(GO) test -timeout 30m ./...

bench: deps ## run the benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

eval: deps ## decoder read rates, false positives and timing on the shared barcode corpus (still images, then as a gate decodes)
	$(GO) run ./decode/eval/cmd/decode-eval -corpus $(CORPUS) -rotations 0,90,180,270 -baseline
	$(GO) run ./decode/eval/cmd/decode-eval -corpus $(CORPUS) -rotations 0 -baseline -gate

clean: ## remove build outputs (bin/); never touches data
	rm -rf $(BIN)

clean-demo: ## remove the demo's data (var/demo: its fleet and gates), nothing else
	rm -rf var/demo
