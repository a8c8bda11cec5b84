"""What the local store writes and reads back through its row conversions: JSON text as people
read it, the READY status of an exported deployment, the `updated` time of a changed row."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from flowplan.domain.clock import iso, utcnow
from tests.runtime.helpers import deployment, store


def test_exported_json_keeps_text_as_written(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path, parameters={"city": "Zürich", "note": "café ☕"})
    (document,) = backend.export_deployments()
    assert '"city":"Zürich"' in document  # compact, and not \u-escaped
    assert json.loads(document)["parameters"] == {"city": "Zürich", "note": "café ☕"}
    backend.close()


def test_an_exported_deployment_is_ready_while_its_queue_was_polled_in_the_last_minute(
    tmp_path: Path,
) -> None:
    backend = store(tmp_path / "home")
    deployment(backend, tmp_path)

    def status_polled(ago: timedelta) -> str:
        backend.store.connection.execute(
            "UPDATE work_queues SET last_polled = ?", (iso(utcnow() - ago),)
        )  # written straight into the store: a poll that long ago
        (document,) = backend.export_deployments()
        return str(json.loads(document)["status"])

    assert status_polled(timedelta(seconds=30)) == "READY"
    assert status_polled(timedelta(seconds=60.5)) == "NOT_READY"
    assert status_polled(timedelta(hours=1)) == "NOT_READY"
    backend.close()


def test_a_change_moves_the_updated_time_and_keeps_the_created_one(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    made = deployment(backend, tmp_path)
    changed = backend.update_deployment(made.id, {"description": "new"})
    assert changed.description == "new"
    assert changed.created == made.created
    assert changed.updated > made.updated
    backend.close()
