"""The `jit` engine: eBPF compiled to native code through LLVM (llvmlite)."""

from .engine import JitEngine, run_raw

__all__ = ["JitEngine", "run_raw"]
