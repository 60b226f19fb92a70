"""``python -m swarm.cli`` runs the CLI (the tests use it to run a real subprocess)."""

from swarm.cli.app import run

run()
