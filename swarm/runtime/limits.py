"""New limits for a run that goes on: `swarm resume RUN --max-tokens N` and the like change the
stored plan's budget, and the change is logged as an event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from swarm.plan import Plan
from swarm.store.store import Store


async def changed_limits(
    store: Store, run_id: str, plan: Plan, limits: Mapping[str, Any] | None
) -> Plan:
    """``plan`` with its budget changed by ``limits``, stored and logged (if anything changed)."""
    before = plan.budget.model_dump()
    change = {key: value for key, value in (limits or {}).items() if before.get(key) != value}
    if not change:
        return plan
    budget = plan.budget.model_validate({**before, **change})
    plan = plan.model_copy(update={"budget": budget})
    logged = {key: {"from": before.get(key), "to": value} for key, value in change.items()}
    await store.change_limits(run_id, plan.to_json(), logged)
    return plan
