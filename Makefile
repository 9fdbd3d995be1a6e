# admit — make help lists the targets.
GO      ?= go
BIN     := bin
CORPUS  ?= ../shared/corpus
# VERSION is what every binary prints with -version and the agent reports to
# the fleet as its firmware.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X admit/internal/version.Version=$(VERSION)
GATESET ?= var/gateset
# DIST is where make dist puts the binaries (DIST/amd64, DIST/arm64) and
# the Debian packages; DEB_VERSION is the packages' version.
DIST    ?= dist
DEB_VERSION ?= $(shell build/debversion.sh)
export DEB_VERSION

.DEFAULT_GOAL := help
.PHONY: help deps build run test bench eval clean clean-demo dist package-test qemu-test

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## install missing system packages (libopencv-dev, pkg-config) with apt-get
	@build/install-deps.sh

build: deps ## build admit-fleet, admit-agent, admitctl, admit-demo and admit-loadgen into bin/
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

run: build ## run the fleet and a simulated venue of three gates (demo data in var/demo); prints the console URL
	$(BIN)/admit-demo -addr 127.0.0.1:8080 -data var/demo -gates 3

test: ## vet, then every test (unit, fuzz seeds, end to end, browser, corpus evaluation), then the arm64 agent under qemu-user
	@build/install-deps.sh test
	$(GO) vet ./...
	$(GO) test -timeout 30m ./...
	@if command -v qemu-aarch64-static >/dev/null 2>&1; then build/qemu-test.sh; \
	else echo "make test: no qemu-aarch64-static: the arm64 agent was not run (make qemu-test)"; fi

qemu-test: ## build the arm64 admit-agent and run it under qemu-user: -version, hwcheck -sim on every board file
	@build/install-deps.sh test
	build/qemu-test.sh

dist: ## admit-agent, admit-fleet, admitctl for linux/amd64 and linux/arm64 (Raspberry Pi OS 64-bit) and their Debian packages, in dist/; lintian
	@build/install-deps.sh dist
	build/dist.sh amd64 $(DIST)/amd64
	build/dist.sh arm64 $(DIST)/arm64
	build/package.sh amd64 $(DIST)/amd64 $(DIST)
	build/package.sh arm64 $(DIST)/arm64 $(DIST)
	lintian --fail-on error $(DIST)/*_$(DEB_VERSION)_*.deb

package-test: dist ## install the amd64 packages into a clean Debian 12 root: install, upgrade, removal, purge; systemd-analyze verify
	build/package-test.sh $(DIST)

bench: deps ## run the benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

eval: deps ## decoder read rates, false positives and timing: the shared corpus, then our gate-conditions set (generated into var/gateset), still and as a gate after 1, 3 and 30 frames
	$(GO) build -o $(BIN)/decode-eval ./decode/eval/cmd/decode-eval
	$(BIN)/decode-eval -corpus $(CORPUS) -rotations 0,90,180,270 -baseline
	$(BIN)/decode-eval -corpus $(CORPUS) -rotations 0 -baseline -gate -frames 3
	$(BIN)/decode-eval -generate $(GATESET)
	$(BIN)/decode-eval -corpus $(GATESET)
	for n in 1 3 30; do $(BIN)/decode-eval -corpus $(GATESET) -gate -frames $$n || exit 1; done

clean: ## remove build outputs (bin/, dist/); never touches data (nor the cached sysroot and roots in .cache/)
	rm -rf $(BIN) $(DIST)

clean-demo: ## remove the demo's data (var/demo: its fleet and gates), nothing else
	rm -rf var/demo
