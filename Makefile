# fusebpf-csi — developer entry points.
#   make build     the fusebpf-csi binary in bin/
#   make generate  BPF objects from bpf/ with the pinned clang (committed)
#   make test      everything CI runs: tools, generate drift, lint, all tests
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/fusebpf-csi/fusebpf-csi/pkg/version.Version=$(VERSION)
GO ?= go
STATICCHECK_VERSION := v0.8.2
TEST_TIMEOUT ?= 40m

.PHONY: build generate check-generate deps lint test unit

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/fusebpf-csi ./cmd/driver

generate:
	./hack/gen-bpf.sh

# Regenerating must not change a committed object.
check-generate: generate
	git diff --exit-code -- pkg/policy/builtin bpf/testdata
	@test -z "$$(git status --porcelain -- pkg/policy/builtin bpf/testdata)" || \
		{ git status --porcelain -- pkg/policy/builtin bpf/testdata; echo "generated files not committed"; exit 1; }

# Debian packages and pinned Go tools the tests need; idempotent.
deps:
	./hack/deps.sh

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

unit:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test: deps check-generate lint unit
