"""Task kinds: one module per kind, found through the registry (and third-party entry points)."""
