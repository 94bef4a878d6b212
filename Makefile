# fusebpf-csi — developer entry points.
#   make build     the fusebpf-csi binary in bin/
#   make generate  BPF objects from bpf/ with the pinned clang (committed)
#   make unit      go test ./... (unit and privileged tests: FUSE, BPF, csi-sanity)
#   make test      everything CI runs (.ci/run): tools, generate drift, lint,
#                  unit + API-server integration tests, a bounded fuzz run,
#                  the chart check, the benchmark in short mode, and the kind
#                  e2e suite (E2E=0 skips it)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/fusebpf-csi/fusebpf-csi/pkg/version.Version=$(VERSION)
GO ?= go
STATICCHECK_VERSION := v0.8.2
TEST_TIMEOUT ?= 40m

E2E ?= 1
FUZZTIME ?= 60s

.PHONY: build generate check-generate deps lint test unit apiserver fuzz chart bench-short e2e

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

# kube-apiserver and etcd for pkg/kube's integration tests (cached).
apiserver:
	./hack/apiserver-bins.sh

# The interpreter over random instruction streams, bounded.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzRun$$' -fuzztime $(FUZZTIME) ./pkg/bpfvm

chart:
	./hack/chart-check.sh

bench-short:
	./test/bench/run.sh short

e2e:
	./hack/e2e.sh

test: deps check-generate lint apiserver unit fuzz chart bench-short
ifeq ($(E2E),1)
test: e2e
endif
