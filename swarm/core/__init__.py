"""The scheduler's core: pure decisions with no I/O, driven by the runtime, tested synchronously."""
