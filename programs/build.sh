#!/bin/sh
# Builds every example program (or the ones named) with the flags the tests use.
cd "$(dirname "$0")" || exit 2
for src in ${@:-*.c}; do
	clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c "$src" -o "${src%.c}.o" || exit 1
done
