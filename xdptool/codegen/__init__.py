"""Target-independent code generation: what a backend for any machine can reuse."""
