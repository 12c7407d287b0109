# xdptool: `make demo` runs the main job on a bundled example, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := clang llvm libbpf-dev linux-libc-dev bpftool
# glibc's headers seen from clang -target bpf include gnu/stubs-32.h (BPF is not x86_64 to them):
# BPF sources that include <string.h> or <stdint.h> need the i386 headers, as xdp-tutorial's configure says
ifeq ($(shell uname -m),x86_64)
APT_PACKAGES += libc6-dev-i386
STUBS_32 := /usr/include/x86_64-linux-gnu/gnu/stubs-32.h
endif
EXAMPLE := programs/port_blocklist

.PHONY: setup system-deps venv native demo lint test fuzz bench clean

setup: system-deps venv native

# Installs the C toolchain and headers with apt-get when missing (as root), else says what to install.
system-deps:
	@missing=""; \
	command -v clang >/dev/null 2>&1 || missing="$$missing clang"; \
	command -v llvm-objdump >/dev/null 2>&1 || missing="$$missing llvm"; \
	test -f /usr/include/bpf/bpf_helpers.h || missing="$$missing libbpf-dev"; \
	test -f /usr/include/linux/bpf.h || missing="$$missing linux-libc-dev"; \
	command -v bpftool >/dev/null 2>&1 || test -x /usr/sbin/bpftool || missing="$$missing bpftool"; \
	test -z "$(STUBS_32)" || test -f "$(STUBS_32)" || missing="$$missing libc6-dev-i386"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	  else \
	    echo "xdptool needs:$$missing (apt-get install $(APT_PACKAGES))"; \
	  fi; \
	fi

# The build tools go into the venv first: `make native` compiles the verifier with them
# (setup.py; the editable install leaves that to it, which builds in parallel).
# editable_mode=compat installs a .pth holding the repository's path; the default mode's
# import hook (__editable___xdptool_*_finder, run by site at every start) costs each
# command ~12 ms before it begins (it imports pathlib, urllib.parse, re).  Where a
# setuptools has dropped compat (deprecated), the default mode is installed instead.
EDITABLE := XDPTOOL_NO_NATIVE=1 $(PY) -m pip install -q --no-build-isolation -e '.[test]'
$(VENV)/.installed: pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 'setuptools>=77' wheel 'Cython==3.3.1'
	$(EDITABLE) --config-settings editable_mode=compat 2>/dev/null || $(EDITABLE)
	touch $@

venv: $(VENV)/.installed

# Recompiles the verifier modules whose .py/.pxd changed (Cython and setuptools skip the
# rest); without this an edited module would run interpreted (xdptool/verifier/native.py).
# Then the package's bytecode, as pip's install of a wheel writes it: an editable install
# leaves the modules to be compiled by the first command that imports them, which then
# starts slower than the next (compileall skips modules whose bytecode is current).
native: venv
	$(PY) setup.py -q build_ext --inplace -j 2
	$(PY) -m compileall -q xdptool

# The main job on a bundled example: build -> verify -> offload -> replay (and inspect,
# disasm, the JIT replay and the example's spec on every engine).
STATE := .xdptool/demo
demo: setup
	$(VENV)/bin/xdptool build $(EXAMPLE).c
	$(VENV)/bin/xdptool inspect $(EXAMPLE).o
	$(VENV)/bin/xdptool disasm $(EXAMPLE).o --source | head -30
	$(VENV)/bin/xdptool verify $(EXAMPLE).o
	rm -rf $(STATE)
	$(VENV)/bin/xdptool offload $(EXAMPLE).o --target nfp-emu --state $(STATE) -o $(STATE)/listing.s
	$(VENV)/bin/xdptool maps set --state $(STATE) blocklist 0035 01
	$(VENV)/bin/xdptool maps set --state $(STATE) blocklist 01bd 02
	$(VENV)/bin/xdptool replay $(EXAMPLE).pcap --state $(STATE)
	$(VENV)/bin/xdptool maps dump --state $(STATE) drops
	$(VENV)/bin/xdptool replay $(EXAMPLE).o $(EXAMPLE).pcap --maps-in $(EXAMPLE).maps.json --out-dir $(STATE)/out
	$(VENV)/bin/xdptool test programs/specs/port_blocklist.toml --target all

# Errors only (pyproject.toml [tool.ruff]); the layer contract is a test (tests/test_layers.py).
lint: venv
	$(VENV)/bin/ruff check xdptool tests bench scripts

test: setup lint
	$(VENV)/bin/pytest -q

# The fuzz suite that `make test` runs briefly (tests/fuzz), with random seeds and 40 times
# the inputs (profile "long" in tests/fuzz/fuzz_support.py): about seven minutes on 2 cores.
fuzz: setup
	XDPTOOL_FUZZ=long $(VENV)/bin/pytest -q tests/fuzz

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .xdptool build xdptool/verifier/*.so xdptool/verifier/native.json
