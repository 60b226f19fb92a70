"""Print the README's set-up commands (the first ```bash block), one per line.

`.ci/run` runs exactly these lines in a fresh virtual environment, so CI sees what a new user
sees: if the README's commands change, CI runs the new ones; there is no second copy to drift.
"""

from __future__ import annotations

import sys
from pathlib import Path


def setup_commands(readme: str) -> list[str]:
    """The non-empty, non-comment lines of the README's first ``bash`` code block."""
    lines = readme.splitlines()
    try:
        start = lines.index("```bash") + 1
    except ValueError:
        raise SystemExit("README.md has no ```bash block with the set-up commands") from None
    end = lines.index("```", start)
    return [line for line in lines[start:end] if line.strip() and not line.startswith("#")]


if __name__ == "__main__":
    readme = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md").read_text(encoding="utf-8")
    print("\n".join(setup_commands(readme)))
