"""Stored rows flowplan cannot read: values an older flowplan let in (JSON `Infinity`, an
interval of 0, a time zone this machine does not know). A listing leaves such a row out with a
warning that says how to fix it; asking for it by name is an `UnreadableRow` error with the same
fix. Either way the rest of the store keeps working."""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from flowplan.errors import UnreadableRow

DEPLOYMENT_COLUMNS = ("parameters", "job_variables", "pull_steps", "parameter_openapi_schema",
                      "labels", "tags", "triggers", "concurrency_options")  # fmt: skip


def deployment(object_id: str, name: str, reason: str) -> UnreadableRow:
    return UnreadableRow(
        "deployment", object_id, name, reason,
        f"delete it with 'flowplan deployment delete {name}', or apply the project that"
        " declares it again to replace it",
    )  # fmt: skip


def deployment_by_id(conn: sqlite3.Connection, object_id: str, reason: str) -> UnreadableRow:
    """The problem of a deployment its caller has just read in this transaction."""
    (name,) = conn.execute(
        """SELECT f.name || ? || d.name FROM deployments d JOIN flows f ON f.id = d.flow_id
           WHERE d.id = ?""",
        ("/", object_id),
    ).fetchone()
    return deployment(object_id, name, reason)


def is_json_error(exc: sqlite3.OperationalError) -> bool:
    return "JSON" in str(exc)


def deployment_documents(
    conn: sqlite3.Connection, document_sql: str, listing_sql: str, params: Sequence[Any]
) -> tuple[list[str], list[UnreadableRow]]:
    """The documents one deployment at a time, after the query of them all failed on a value
    SQLite's JSON functions refuse: each row that fails is named, with the column at fault.
    `params[0]` is the document query's own parameter; the rest select the rows."""
    documents, bad = [], []
    for deployment_id, name in conn.execute(listing_sql, params[1:]).fetchall():
        try:
            documents.append(conn.execute(document_sql, (params[0], deployment_id)).fetchone()[0])
        except sqlite3.OperationalError as exc:
            if not is_json_error(exc):
                raise
            bad.append(deployment(deployment_id, name, _bad_columns(conn, deployment_id)))
    return documents, bad


def _bad_columns(conn: sqlite3.Connection, deployment_id: str) -> str:
    checks = ", ".join(f"{column} IS NULL OR json_valid({column})" for column in DEPLOYMENT_COLUMNS)
    valid = conn.execute(f"SELECT {checks} FROM deployments WHERE id = ?", (deployment_id,))
    columns = [c for c, ok in zip(DEPLOYMENT_COLUMNS, valid.fetchone(), strict=True) if not ok]
    slugs = [
        row[0]
        for row in conn.execute(
            """SELECT slug FROM deployment_schedules WHERE deployment_id = ?
               AND NOT (json_valid(schedule) AND json_valid(parameters)) ORDER BY slug""",
            (deployment_id,),
        )
    ]
    columns += [f"schedule {slug!r}" for slug in slugs]
    # DEPLOYMENT_COLUMNS and the schedules are every value the document query parses as JSON
    return f"{', '.join(columns)} is not valid JSON (NaN or Infinity, stored by an older flowplan)"


def warn(problems: Iterable[UnreadableRow]) -> None:
    for problem in problems:
        # one place of warning: a message said once per command, however often it is read
        warnings.warn(problem.warning(), stacklevel=1)
