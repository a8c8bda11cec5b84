"""Retention: deleting the finished runs older than a date (with their states and logs) in
short transactions, so that a million runs never hold the store for long."""

from __future__ import annotations

import time
from datetime import datetime

from flowplan.backends.local.store import Store
from flowplan.domain.clock import iso

DELETE_BATCH = 200  # runs per transaction when deleting old runs (with their logs and states)
DELETE_SECONDS = 0.25  # a transaction that took longer: the next ones delete half as many
# The finished runs that ended before a date, found through the index of end times: `+` keeps
# SQLite from choosing the index of states instead, which reads every finished run to learn
# that none is left (0.4-1.5 s holding the store's write lock, with a million runs).
OLD_RUNS = "end_time < ? AND +state_type IN ('COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED')"


class RetentionMixin:
    store: Store

    def delete_finished_runs(
        self,
        *,
        ended_before: datetime,
        dry_run: bool = False,
        limit: int | None = None,
        batch: int = DELETE_BATCH,
    ) -> int:
        """Delete the finished runs (COMPLETED, FAILED, CANCELLED, CRASHED) that ended before
        `ended_before`, with their state history and logs; how many. Scheduled, pending and
        running runs are never touched, whatever their age. Deleted in transactions of `batch`
        runs (half as many, not below 10, when one takes longer than DELETE_SECONDS), each
        followed by a pause half as long as it took, so that workers and commands waiting for
        the store get it in between (a million runs never hold it for long).
        `limit`: at most this many (the rest another time). `dry_run`: only count them."""
        cutoff = iso(ended_before)
        if dry_run:
            with self.store.read() as conn:
                return int(
                    conn.execute(f"SELECT count(*) FROM flow_runs WHERE {OLD_RUNS}", (cutoff,))
                    .fetchone()[0]
                )  # fmt: skip
        # Written as every other write is (synchronous NORMAL: a commit does not wait for the
        # disk, a checkpoint does): with OFF, a power cut during one of the checkpoints these
        # deletes cause could corrupt the whole store, not only lose the deletes.
        deleted = 0
        while limit is None or deleted < limit:
            size = batch if limit is None else min(batch, limit - deleted)
            started = time.monotonic()
            with self.store.write() as conn:
                count = conn.execute(
                    "DELETE FROM flow_runs WHERE rowid IN"
                    f" (SELECT rowid FROM flow_runs WHERE {OLD_RUNS} LIMIT ?)",
                    (cutoff, size),
                ).rowcount
            deleted += count
            if count < size:
                break
            took = time.monotonic() - started
            if took > DELETE_SECONDS and batch > 10:  # a busy machine: shorter transactions
                batch = max(10, batch // 2)
            time.sleep(min(0.5, max(0.005, took / 2)))
        return deleted
