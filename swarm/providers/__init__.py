"""Model providers behind one protocol: sim (offline, deterministic), replicate, openai."""
