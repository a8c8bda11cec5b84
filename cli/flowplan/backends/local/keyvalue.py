"""Variables, secrets and leases (locks) in the local store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from flowplan import masking
from flowplan.backends.local import rows
from flowplan.backends.local.store import Store
from flowplan.domain.clock import iso, utcnow
from flowplan.domain.names import check_key_name, check_variable_value
from flowplan.domain.objects import Lease, SecretInfo, Variable
from flowplan.errors import ObjectAlreadyExists, ObjectNotFound


class KeyValueMixin:
    store: Store

    # -- variables -------------------------------------------------------------------------------

    def set_variable(
        self, name: str, value: Any, *, tags: Iterable[str] = (), overwrite: bool = False
    ) -> Variable:
        check_key_name("variable", name)
        text = check_variable_value(name, value)
        now = rows.now_text()
        with self.store.write() as conn:
            exists = _exists(conn, """variables""", name)
            if exists and not overwrite:
                raise ObjectAlreadyExists(
                    f"variable {name!r} already exists", hint="pass --overwrite to replace it"
                )
            conn.execute(
                """INSERT INTO variables (name, value, tags, created, updated)
                   VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value,
                   tags = excluded.tags, updated = excluded.updated""",
                (name, text, rows.dumps(list(tags)), now, now),
            )
        return self.read_variable(name)

    def read_variable(self, name: str) -> Variable:
        with self.store.read() as conn:
            row = conn.execute(
                """SELECT name, value, tags, created, updated FROM variables WHERE name = ?""",
                (name,),
            ).fetchone()
            if row is None:
                raise _not_found(conn, """variables""", "variable", name)
        return _variable(row)

    def read_variables(self) -> list[Variable]:
        with self.store.read() as conn:
            found = conn.execute(
                """SELECT name, value, tags, created, updated FROM variables ORDER BY name"""
            ).fetchall()
        return [_variable(row) for row in found]

    def delete_variable(self, name: str) -> None:
        with self.store.write() as conn:
            if not _exists(conn, """variables""", name):
                raise _not_found(conn, """variables""", "variable", name)
            conn.execute("""DELETE FROM variables WHERE name = ?""", (name,))

    # -- secrets ---------------------------------------------------------------------------------

    def set_secret(self, name: str, value: str, *, overwrite: bool = False) -> SecretInfo:
        """Store a secret (replacing one only with `overwrite`). Its value is only ever read by
        `read_secret_value`, at run time."""
        check_key_name("secret", name)
        now = rows.now_text()
        with self.store.write() as conn:
            if not overwrite and _exists(conn, """secrets""", name):
                raise ObjectAlreadyExists(
                    f"secret {name!r} already exists", hint="pass --overwrite to replace it"
                )
            conn.execute(
                """INSERT INTO secrets (name, value, created, updated) VALUES (?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET value = excluded.value,
                   updated = excluded.updated""",
                (name, value, now, now),
            )
        return next(secret for secret in self.read_secrets() if secret.name == name)

    def read_secrets(self) -> list[SecretInfo]:
        with self.store.read() as conn:
            found = conn.execute(
                """SELECT name, created, updated FROM secrets ORDER BY name"""
            ).fetchall()
        return [SecretInfo(row[0], rows.time(row[1]), rows.time(row[2])) for row in found]

    def read_secret_value(self, name: str) -> str:
        with self.store.read() as conn:
            row = conn.execute("""SELECT value FROM secrets WHERE name = ?""", (name,)).fetchone()
            if row is None:
                raise _not_found(conn, """secrets""", "secret", name)
        masking.register(row[0])  # read once, masked in everything this process prints
        return str(row[0])

    def delete_secret(self, name: str) -> None:
        with self.store.write() as conn:
            if not _exists(conn, """secrets""", name):
                raise _not_found(conn, """secrets""", "secret", name)
            conn.execute("""DELETE FROM secrets WHERE name = ?""", (name,))

    # -- leases ----------------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> Lease | None:
        """Take (or renew) the lease `name` for `holder`; None while someone else holds it."""
        now = utcnow()
        expires = iso(now + timedelta(seconds=ttl_seconds))
        with self.store.write() as conn:
            row = conn.execute(
                """SELECT holder, expires FROM leases WHERE name = ?""", (name,)
            ).fetchone()
            if row and row[0] != holder and rows.time(row[1]) > now:
                return None
            acquired = iso(now) if not row or row[0] != holder else None
            conn.execute(
                """INSERT INTO leases (name, holder, acquired, expires) VALUES (?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                   acquired = coalesce(?, acquired), expires = excluded.expires""",
                (name, holder, iso(now), expires, acquired),
            )
        return self.read_lease(name)

    def read_lease(self, name: str) -> Lease | None:
        with self.store.read() as conn:
            row = conn.execute(
                """SELECT name, holder, acquired, expires FROM leases WHERE name = ?""", (name,)
            ).fetchone()
        return Lease(row[0], row[1], rows.time(row[2]), rows.time(row[3])) if row else None

    def release_lease(self, name: str, holder: str | None = None) -> bool:
        """Give the lease up (any holder's when `holder` is None, for force-unlock)."""
        with self.store.write() as conn:
            cursor = conn.execute(
                """DELETE FROM leases WHERE name = ? AND (? IS NULL OR holder = ?)""",
                (name, holder, holder),
            )
        return cursor.rowcount > 0


def _variable(row: tuple[Any, ...]) -> Variable:
    return Variable(
        row[0], rows.json_loads(row[1]), tuple(rows.json_loads(row[2])), rows.time(row[3]),
        rows.time(row[4]),
    )  # fmt: skip


def _exists(conn: sqlite3.Connection, table: str, name: str) -> bool:
    return conn.execute(f"SELECT 1 FROM {table} WHERE name = ?", (name,)).fetchone() is not None


def _not_found(conn: sqlite3.Connection, table: str, kind: str, name: str) -> ObjectNotFound:
    known = [row[0] for row in conn.execute(f"SELECT name FROM {table}")]
    return ObjectNotFound.named(kind, name, known)
