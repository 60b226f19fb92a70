"""New limits for a run that goes on: `swarm resume RUN --max-tokens N` and the like change the
stored plan's budget, and the change is logged as an event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from swarm.errors import ConfigError
from swarm.plan import Plan
from swarm.store.store import Store


async def changed_limits(
    store: Store, run_id: str, plan: Plan, limits: Mapping[str, Any] | None, *, epoch: int
) -> Plan:
    """``plan`` with its budget changed by ``limits``, stored and logged (if anything changed)
    by the driver that holds the run at ``epoch``."""
    before = plan.budget.model_dump()
    change = {key: value for key, value in (limits or {}).items() if before.get(key) != value}
    if not change:
        return plan
    try:
        budget = plan.budget.model_validate({**before, **change})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            f"new run limit {field}: {first['msg']}", hint="give a positive value"
        ) from None
    plan = plan.model_copy(update={"budget": budget})
    logged = {key: {"from": before.get(key), "to": value} for key, value in change.items()}
    await store.change_limits(run_id, plan.to_json(), logged, epoch=epoch)
    return plan
