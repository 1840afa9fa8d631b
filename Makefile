# hanode build. `make test` is what CI runs (through .ci/run).
GO        ?= go
MODULE    := github.com/hanode/hanode
BIN       := bin/hanode
PROTOS    := $(wildcard proto/hanode/v1/*.proto)
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X $(MODULE)/node/version.Version=$(VERSION) -X $(MODULE)/node/version.Commit=$(COMMIT)

.PHONY: all build proto proto-check test lint bench demo clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/hanode

# Regenerate messages/ from proto/ (protoc from Debian's protobuf-compiler,
# protoc-gen-go pinned by the tool directive in go.mod).
proto:
	protoc -I proto --plugin=protoc-gen-go=$$($(GO) tool -n protoc-gen-go) \
		--go_out=. --go_opt=module=$(MODULE) $(PROTOS)

clean:
	rm -rf bin
