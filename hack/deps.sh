#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian 12 machine, skipping what is there.
set -euo pipefail
pkgs=(clang-19 llvm-19 lld-19 libbpf-dev bpftool fio bindfs)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing Debian packages ${missing[*]}; run as root or install them" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
