# racktrack — the two commands an operator needs are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
GOBIN := $(shell $(GO) env GOPATH)/bin
PROTOS := $(wildcard proto/racktrack/v1/*.proto)
TEST_TIMEOUT ?= 14m

.PHONY: all setup build proto vet test fuzz bench demo clean

all: build

## setup: install Debian packages and pinned Go generators (idempotent)
setup:
	@bash scripts/setup.sh

build:
	$(GO) build ./...

## proto: regenerate Go code from proto/ with the pinned generators
proto: setup
	protoc -I proto --plugin=protoc-gen-go=$(GOBIN)/protoc-gen-go \
	  --plugin=protoc-gen-go-grpc=$(GOBIN)/protoc-gen-go-grpc \
	  --go_out=proto --go_opt=paths=source_relative \
	  --go-grpc_out=proto --go-grpc_opt=paths=source_relative $(PROTOS)

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

# An execution count, not a duration: with -fuzztime=<duration>, Go 1.26's fuzz
# coordinator can report a spurious "context deadline exceeded" failure when the
# time runs out (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 20000x

## test: vet, every unit and integration test with the race detector, then
## short bounded runs of the fuzz targets that guard outside input
test: setup vet
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) fuzz

## fuzz: each decoder of outside input fuzzed for FUZZTIME executions, or the count
## given after its name (file-backed targets are slower); seed corpora in testdata/fuzz
FUZZ_TARGETS := \
	providers/lldp:FuzzDecode \
	providers/snmp:FuzzValueDecoders \
	providers/snmp:FuzzIPNeighborIndex \
	providers/snmp/switchsim:FuzzAgentHandle \
	providers/redfish:FuzzMapping \
	agent/spool:FuzzOpen:2000x \
	collector/ingest:FuzzDecode \
	collector/api:FuzzCursor
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  IFS=: read -r pkg fn n <<< "$$t"; n=$${n:-$(FUZZTIME)}; echo "fuzz $$fn ./$$pkg ($$n)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $$n -fuzzminimizetime 100x ./$$pkg; \
	done

## bench: the benchmarks whose figures go in docs/BENCHMARKS.md
bench: setup
	$(GO) test -run '^$$' -bench . -benchmem ./...

## demo: the whole system on this machine (Ctrl-C stops it)
demo: setup
	$(GO) run ./cmd/racktrack demo

clean:
	rm -rf bin
