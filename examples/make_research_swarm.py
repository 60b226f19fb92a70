"""Writes examples/research-swarm.json: a 300-task research swarm (run it to regenerate).

Shape: 60 companies x 4 research angles fan out (240 tasks), each company's angles fan in to a
profile (60 tasks, JSON with a schema), and the profiles are compared, scored and reported.
"""

from __future__ import annotations

import json
from pathlib import Path

SECTORS = ["batteries", "solar", "wind", "grid storage", "hydrogen", "heat pumps"]
ANGLES = {
    "product": "Describe the company's main products and what sets them apart.",
    "market": "Estimate the company's market position, customers and revenue trend.",
    "team": "Summarise the leadership team and the company's hiring signals.",
    "risks": "List the main technical, regulatory and financial risks the company faces.",
}
PROFILE_SCHEMA = {
    "type": "object",
    "required": ["company", "sector", "score", "strengths", "risks"],
    "properties": {
        "company": {"type": "string"},
        "sector": {"type": "string"},
        "score": {"type": "integer", "minimum": 1, "maximum": 10},
        "strengths": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "risks": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
}


def build() -> dict[str, object]:
    tasks: list[dict[str, object]] = []
    profiles_by_sector: dict[str, list[str]] = {s: [] for s in SECTORS}
    for i in range(60):
        sector = SECTORS[i % len(SECTORS)]
        company = f"company-{i:02d}"
        angle_ids = []
        for angle, ask in ANGLES.items():
            tid = f"{company}.{angle}"
            angle_ids.append(tid)
            tasks.append(
                {"id": tid, "kind": "llm", "prompt": f"{ask} Company: {company} ({sector})."}
            )
        profile = f"{company}.profile"
        profiles_by_sector[sector].append(profile)
        tasks.append(
            {
                "id": profile,
                "kind": "llm",
                "deps": angle_ids,
                "prompt": f"Combine the research on {company} into a profile with a 1-10 score.",
                "output_schema": PROFILE_SCHEMA,
            }
        )
    sector_ids = []
    for sector, profiles in profiles_by_sector.items():
        tid = f"sector.{sector.replace(' ', '-')}"
        sector_ids.append(tid)
        tasks.append(
            {
                "id": tid,
                "kind": "llm",
                "deps": profiles,
                "prompt": f"Compare the {sector} companies: rank them and explain the ranking.",
                "params": {"max_tokens": 4096},
            }
        )
    tasks.append(
        {
            "id": "report",
            "kind": "llm",
            "deps": sector_ids,
            "prompt": "Write an investment memo on the clean-energy market from the sector "
            "reviews.",
            "params": {"max_tokens": 8192, "reasoning_effort": "high"},
        }
    )
    return {
        "goal": "Map 60 clean-energy companies across 6 sectors and write an investment memo",
        "defaults": {"params": {"max_tokens": 2048, "temperature": 0.6}, "retries": 3},
        "budget": {"max_concurrency": 64, "max_steps": 4000},
        "tasks": tasks,
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("research-swarm.json")
    out.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {out} ({len(build()['tasks'])} tasks)")  # type: ignore[arg-type]
