"""The CLI on a PostgreSQL store, end to end: execute, the read commands, export into a SQLite
file for the dashboard, and `swarm db copy` both ways without loss."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from swarm.testing import crash
from swarm.testing.crash import fan_plan
from swarm.testing.postgres import PostgresServer
from tests.cli.conftest import CliRunner


def _plan(tmp_path: Path) -> Path:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(fan_plan(width=10)), encoding="utf-8")
    return plan


def _export(cli: CliRunner, db: str | Path, run_id: str) -> dict[str, Any]:
    done = cli("export", run_id, "--db", db)
    assert done.code == 0, done.err
    data: dict[str, Any] = json.loads(done.out)
    for event in data["events"]:
        event.pop("id")  # each database numbers its own log (in the same order)
    data["run"].pop("owner_pid", None)
    return data


def test_execute_and_every_read_command_on_postgres(
    cli: CliRunner, tmp_path: Path, postgres_url: str
) -> None:
    done = cli("execute", _plan(tmp_path), "--db", postgres_url, "--run-id", "pg1", "--json")
    assert done.code == 0, done.err
    summary = json.loads(done.out)
    assert (summary["status"], summary["counts"]["succeeded"]) == ("succeeded", 17)
    assert summary["db"] == postgres_url
    runs = json.loads(cli("runs", "--db", postgres_url, "--json").out)["runs"]
    assert [r["run_id"] for r in runs] == ["pg1"]
    show = cli("show", "pg1", "--db", postgres_url)
    assert show.code == 0 and "17 succeeded" in show.out
    events = cli("events", "pg1", "--db", postgres_url, "--follow")
    assert events.code == 0 and events.out.rstrip().splitlines()[-1].split()[3] == "run.finished"
    report = cli("report", "pg1", "--db", postgres_url, "-o", tmp_path / "r.html")
    assert report.code == 0 and (tmp_path / "r.html").stat().st_size > 1000


def test_a_password_in_the_url_is_never_printed(cli: CliRunner, postgres_url: str) -> None:
    port = postgres_url.split(":")[2].split("/")[0]
    url = f"postgresql://postgres:s3cret@127.0.0.1:{port}/absent_db"
    done = cli("runs", "--db", url, "--json")
    assert done.code != 0
    assert "s3cret" not in done.out + done.err and "***" in done.out + done.err


def test_copy_sqlite_to_postgres_and_back_loses_nothing(
    cli: CliRunner, tmp_path: Path, postgres_url: str
) -> None:
    first, back = tmp_path / "first.db", tmp_path / "back.db"
    assert cli("execute", _plan(tmp_path), "--db", first, "--run-id", "r1", "--json").code == 0
    there = cli("db", "copy", first, postgres_url, "--json")
    assert there.code == 0, there.err
    assert json.loads(there.out)["runs"] == ["r1"]
    assert cli("db", "copy", postgres_url, back).code == 0
    original = _export(cli, first, "r1")
    assert _export(cli, postgres_url, "r1") == original
    assert _export(cli, back, "r1") == original
    again = cli("db", "copy", first, postgres_url, "--json")
    assert again.code == 2 and "already holds run(s) r1" in again.out


def test_export_sqlite_writes_a_file_the_dashboard_can_open(
    cli: CliRunner, tmp_path: Path, postgres_url: str
) -> None:
    assert (
        cli("execute", _plan(tmp_path), "--db", postgres_url, "--run-id", "p", "--json").code == 0
    )
    file = tmp_path / "for-dashboard.db"
    done = cli("export", "p", "--db", postgres_url, "--sqlite", file, "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["rows"]["tasks"] == 17
    assert _export(cli, file, "p") == _export(cli, postgres_url, "p")
    refused = cli("dashboard", "--db", postgres_url)
    assert refused.code == 2 and "--sqlite FILE" in refused.err


def test_cancel_from_another_process_then_resume_on_postgres(
    cli: CliRunner, tmp_path: Path, postgres_url: str
) -> None:
    """`swarm cancel` reaches the driving process through the database alone."""
    env = crash.env_for(tmp_path / "ledger")
    env["SWARM_SIM_LATENCY"] = "fixed:1.0"  # 4+ seconds: time to ask
    args = ["execute", str(_plan(tmp_path)), "--db", postgres_url, "--run-id", "r", "--json"]
    driver = crash.swarm(args, env)
    try:
        crash.wait_for_run(postgres_url, driver)
        asked = cli("cancel", "r", "--db", postgres_url, "--wait", "30", "--json")
        assert asked.code == 0, asked.out + asked.err
        driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    assert json.loads(cli("show", "r", "--db", postgres_url, "--json").out)["run"]["status"] == (
        "cancelled"
    )
    resumed = crash.swarm(["resume", "r", "--db", postgres_url, "--json"], env)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert json.loads(out)["status"] == "succeeded"


def test_an_unreachable_server_is_named_with_what_to_check(cli: CliRunner) -> None:
    done = cli("runs", "--db", "postgresql://me:pw@127.0.0.1:1/swarm")
    assert done.code == 1
    assert "cannot read database postgresql://me:***@127.0.0.1:1/swarm" in done.err
    assert "check that the server is running" in done.err and "pw" not in done.err


def test_two_drivers_on_one_database_each_drive_their_own_run(
    cli: CliRunner, tmp_path: Path, postgres_url: str
) -> None:
    env = crash.env_for(tmp_path / "ledger")
    plan = str(_plan(tmp_path))
    drivers = [
        crash.swarm(["execute", plan, "--db", postgres_url, "--run-id", run_id, "--json"], env)
        for run_id in ("a", "b")
    ]
    outputs = [driver.communicate(timeout=120) for driver in drivers]
    for driver, (out, err) in zip(drivers, outputs, strict=True):
        assert driver.returncode == 0, err
        assert json.loads(out)["status"] == "succeeded"
    runs = json.loads(cli("runs", "--db", postgres_url, "--json").out)["runs"]
    assert sorted((r["run_id"], r["counts"]["succeeded"]) for r in runs) == [("a", 17), ("b", 17)]


def test_the_read_commands_need_only_select_and_migrate_nothing(
    cli: CliRunner, tmp_path: Path, postgres_url: str, postgres_server: PostgresServer
) -> None:
    """Read commands open PostgreSQL read-only: a role that may only SELECT reads every
    surface, and an empty database is refused (exit 1, what to do) instead of migrated."""
    assert cli("execute", _plan(tmp_path), "--db", postgres_url, "--run-id", "p").code == 0
    database = postgres_url.rsplit("/", 1)[1]
    role = f"reader_{database}"
    postgres_server.psql(f"CREATE ROLE {role} LOGIN", database)
    postgres_server.psql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}", database)
    url = postgres_url.replace("postgres@", f"{role}@")
    for argv in (
        ["runs"],
        ["show", "p"],
        ["events", "p"],
        ["export", "p"],
        ["report", "p", "-o", str(tmp_path / "r.html")],
        ["export", "p", "--sqlite", str(tmp_path / "p.db")],
    ):
        done = cli(*argv, "--db", url)
        assert done.code == 0, (argv, done.err)
    assert _export(cli, url, "p") == _export(cli, postgres_url, "p")
    empty = postgres_server.create_database(f"{database}_empty")
    refused = cli("runs", "--db", empty)
    assert refused.code == 1 and "has no swarm schema" in refused.err
    assert "swarm db upgrade" in refused.err
    assert (
        postgres_server.psql(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", f"{database}_empty"
        ).strip()
        == "0"
    )
