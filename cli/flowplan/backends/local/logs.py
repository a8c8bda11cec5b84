"""A run's log lines in the store: written in batches (or with the run's final state, see
`RunsMixin.finish_flow_run`), read oldest first."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from flowplan.backends.local import rows
from flowplan.backends.local.store import Store
from flowplan.domain.clock import iso
from flowplan.domain.objects import LogLine


class LogsMixin:
    store: Store

    def write_logs(self, lines: Sequence[LogLine]) -> None:
        with self.store.write() as conn:
            insert_logs(conn, lines)

    def read_logs(self, run_id: str, *, limit: int | None = None, offset: int = 0) -> list[LogLine]:
        """A run's log lines, oldest first: from the `offset`-th, or the last `limit`."""
        with self.store.read() as conn:
            rows.state_of(conn, run_id)
            if limit is None:
                found = conn.execute(
                    """SELECT timestamp, level, message FROM logs WHERE flow_run_id = ?
                       ORDER BY timestamp, rowid LIMIT -1 OFFSET ?""",
                    (run_id, max(0, offset)),
                ).fetchall()
            else:
                found = conn.execute(
                    """SELECT timestamp, level, message FROM (
                         SELECT rowid, * FROM logs WHERE flow_run_id = ?
                         ORDER BY timestamp DESC, rowid DESC LIMIT ?
                       ) ORDER BY timestamp, rowid""",
                    (run_id, limit),
                ).fetchall()
        return [LogLine(run_id, rows.time(row[0]), row[1], row[2]) for row in found]


def insert_logs(conn: sqlite3.Connection, lines: Sequence[LogLine]) -> None:
    conn.executemany(
        """INSERT INTO logs (flow_run_id, timestamp, level, message) VALUES (?, ?, ?, ?)""",
        [(line.flow_run_id, iso(line.timestamp), line.level, line.message) for line in lines],
    )
