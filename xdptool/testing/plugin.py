"""pytest plugin entry point (the `xdp` fixture and spec collection live here)."""
