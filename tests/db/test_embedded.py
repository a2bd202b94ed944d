"""With DATABASE_URL unset, the CLI runs on an embedded PostgreSQL (pgserver) and stops it after."""

from __future__ import annotations

from pathlib import Path

from db.migrate import head_revision
from tests.db.support import run_cli


def _processes_using(path: Path) -> list[str]:
    """Command lines of running processes that mention ``path``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in text:
            found.append(text)
    return found


async def test_db_upgrade_and_current_run_on_an_embedded_server_that_stops_afterwards(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "regsosek-data"
    environment = {"REGSOSEK_DATA_DIR": str(data_dir)}

    upgrade = await run_cli(None, "db", "upgrade", environment=environment)
    assert upgrade.returncode == 0, upgrade.stderr
    assert f"database at revision {head_revision()}" in upgrade.stdout

    current = await run_cli(None, "db", "current", environment=environment)
    assert current.returncode == 0, current.stderr
    assert f"{head_revision()} (up to date)" in current.stdout

    pgdata = (data_dir / "pgdata").resolve()
    assert (pgdata / "PG_VERSION").is_file()
    assert not (pgdata / "postmaster.pid").exists()
    assert _processes_using(pgdata) == []
