#!/usr/bin/env bash
# Compiles every BPF C source of the repository with the pinned clang into the
# objects that are committed next to the Go code that uses them:
#   bpf/<name>.bpf.c       -> pkg/policy/builtin/<name>.bpf.o   (embedded built-ins)
#   bpf/testdata/<name>.c  -> bpf/testdata/<name>.o             (test fixtures)
# A source whose name ends in _v4.c is built with -mcpu=v4, everything else with
# -mcpu=v3 (what the kernel tier needs). Output is deterministic: run it twice and
# `git diff` shows nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG=${CLANG:-clang-19}
STRIP=${STRIP:-llvm-strip-19}
if ! command -v "$CLANG" >/dev/null; then
	echo "gen-bpf: $CLANG not found (apt-get install clang-19 llvm-19)" >&2
	exit 2
fi

arch_inc=/usr/include/$(uname -m)-linux-gnu
cflags=(-target bpf -O2 -g -Wall -Werror -I bpf/include -I "$arch_inc"
	-fdebug-prefix-map="$PWD"=. -fno-ident)

build() { # src out
	local src=$1 out=$2 cpu=v3
	case $src in *_v4.c) cpu=v4 ;; esac
	"$CLANG" "${cflags[@]}" -mcpu=$cpu -c "$src" -o "$out.tmp"
	# Keep BTF and .BTF.ext (CO-RE, line info); drop DWARF.
	"$STRIP" -g "$out.tmp"
	mv "$out.tmp" "$out"
}

mkdir -p pkg/policy/builtin
shopt -s nullglob
for src in bpf/*.bpf.c; do
	name=$(basename "$src" .bpf.c)
	build "$src" "pkg/policy/builtin/$name.bpf.o"
done
for src in bpf/testdata/*.c; do
	build "$src" "${src%.c}.o"
done
