"""xdptool: build, inspect, verify, run, replay and offload XDP programs."""

__version__ = "0.1.0"
