"""`swarm dashboard`: the bundled Datasette dashboards over a swarm database (optional extra)."""
