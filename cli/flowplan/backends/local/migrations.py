"""The store's schema, as forward migrations: MIGRATIONS[i] takes version i to version i + 1.

Never edit a released migration; append a new one. `PRAGMA user_version` holds the version.
Timestamps are ISO-8601 text in UTC (they sort as text); JSON columns hold JSON text.
"""

from __future__ import annotations

_V1 = [
    """CREATE TABLE flows (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL
    )""",
    """CREATE TABLE work_pools (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        description TEXT,
        is_paused INTEGER NOT NULL DEFAULT 0,
        concurrency_limit INTEGER,
        base_job_template TEXT NOT NULL DEFAULT '{}',
        default_queue_id TEXT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    )""",
    """CREATE TABLE work_queues (
        id TEXT PRIMARY KEY,
        work_pool_id TEXT NOT NULL REFERENCES work_pools(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        description TEXT,
        is_paused INTEGER NOT NULL DEFAULT 0,
        concurrency_limit INTEGER,
        priority INTEGER NOT NULL,
        last_polled TEXT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        UNIQUE (work_pool_id, name)
    )""",
    """CREATE TABLE workers (
        work_pool_id TEXT NOT NULL REFERENCES work_pools(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        heartbeat_interval REAL NOT NULL DEFAULT 30,
        last_heartbeat TEXT NOT NULL,
        PRIMARY KEY (work_pool_id, name)
    )""",
    """CREATE TABLE deployments (
        id TEXT PRIMARY KEY,
        flow_id TEXT NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        version TEXT,
        description TEXT,
        paused INTEGER NOT NULL DEFAULT 0,
        concurrency_limit INTEGER,
        job_variables TEXT NOT NULL DEFAULT '{}',
        parameters TEXT NOT NULL DEFAULT '{}',
        parameter_openapi_schema TEXT NOT NULL DEFAULT '{}',
        enforce_parameter_schema INTEGER NOT NULL DEFAULT 1,
        tags TEXT NOT NULL DEFAULT '[]',
        labels TEXT NOT NULL DEFAULT '{}',
        pull_steps TEXT,
        entrypoint TEXT,
        path TEXT,
        work_queue_id TEXT REFERENCES work_queues(id) ON DELETE SET NULL,
        last_polled TEXT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        UNIQUE (flow_id, name)
    )""",
    "CREATE INDEX deployments_by_queue ON deployments (work_queue_id)",
    """CREATE TABLE deployment_schedules (
        id TEXT PRIMARY KEY,
        deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
        slug TEXT NOT NULL,
        schedule TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        parameters TEXT NOT NULL DEFAULT '{}',
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        UNIQUE (deployment_id, slug)
    )""",
    """CREATE TABLE flow_runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        flow_id TEXT NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
        deployment_id TEXT REFERENCES deployments(id) ON DELETE SET NULL,
        work_queue_id TEXT REFERENCES work_queues(id) ON DELETE SET NULL,
        schedule_id TEXT,
        state_type TEXT NOT NULL,
        state_name TEXT NOT NULL,
        state_message TEXT,
        state_timestamp TEXT NOT NULL,
        parameters TEXT NOT NULL DEFAULT '{}',
        job_variables TEXT NOT NULL DEFAULT '{}',
        tags TEXT NOT NULL DEFAULT '[]',
        idempotency_key TEXT,
        auto_scheduled INTEGER NOT NULL DEFAULT 0,
        expected_start_time TEXT NOT NULL,
        start_time TEXT,
        end_time TEXT,
        worker_name TEXT,
        process_id INTEGER,
        created TEXT NOT NULL,
        UNIQUE (flow_id, idempotency_key)
    )""",
    "CREATE INDEX flow_runs_by_state ON flow_runs (state_type, expected_start_time)",
    "CREATE INDEX flow_runs_by_deployment ON flow_runs (deployment_id, expected_start_time)",
    """CREATE TABLE flow_run_states (
        flow_run_id TEXT NOT NULL REFERENCES flow_runs(id) ON DELETE CASCADE,
        type TEXT NOT NULL,
        name TEXT NOT NULL,
        message TEXT,
        timestamp TEXT NOT NULL
    )""",
    "CREATE INDEX flow_run_states_by_run ON flow_run_states (flow_run_id)",
    """CREATE TABLE logs (
        flow_run_id TEXT NOT NULL REFERENCES flow_runs(id) ON DELETE CASCADE,
        timestamp TEXT NOT NULL,
        level INTEGER NOT NULL,
        message TEXT NOT NULL
    )""",
    "CREATE INDEX logs_by_run ON logs (flow_run_id, timestamp)",
    """CREATE TABLE variables (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    )""",
    """CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    )""",
    """CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        acquired TEXT NOT NULL,
        expires TEXT NOT NULL
    )""",
]

# v2: the runtime looks runs up by schedule (scheduler) and by worker (crash detection)
_V2 = [
    "CREATE INDEX flow_runs_by_schedule ON flow_runs (schedule_id, expected_start_time)",
    "CREATE INDEX flow_runs_by_worker ON flow_runs (worker_name)",
]

# v3: deployments keep their triggers (prefect.yaml's `triggers:`)
_V3 = ["ALTER TABLE deployments ADD COLUMN triggers TEXT NOT NULL DEFAULT '[]'"]

# v4: the rest of prefect.yaml's `concurrency_limit: {limit, collision_strategy, ...}`
_V4 = ["ALTER TABLE deployments ADD COLUMN concurrency_options TEXT"]

# v5: events (the runtime's and webhooks'), webhooks, and what deployment triggers did with them.
# `seq` orders events as they were stored (the trigger evaluator's cursor); a firing's key is
# its automation and triggering event, so a firing is made once however often it is evaluated.
_V5 = [
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        occurred TEXT NOT NULL,
        event TEXT NOT NULL,
        resource TEXT NOT NULL,
        related TEXT NOT NULL DEFAULT '[]',
        payload TEXT NOT NULL DEFAULT '{}',
        received TEXT NOT NULL
    )""",
    """CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        slug TEXT NOT NULL UNIQUE,
        template TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL DEFAULT 1,
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    )""",
    """CREATE TABLE automation_state (
        automation TEXT PRIMARY KEY,
        deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
        trigger TEXT NOT NULL,
        buckets TEXT NOT NULL DEFAULT '{}',
        updated TEXT NOT NULL
    )""",
    """CREATE TABLE automation_cursor (
        name TEXT PRIMARY KEY,
        seq INTEGER NOT NULL
    )""",
    """CREATE TABLE firings (
        id TEXT PRIMARY KEY,
        automation TEXT NOT NULL,
        deployment_id TEXT REFERENCES deployments(id) ON DELETE SET NULL,
        event_id TEXT,
        flow_run_id TEXT,
        fired TEXT NOT NULL,
        reason TEXT NOT NULL,
        error TEXT,
        UNIQUE (automation, event_id)
    )""",
    "CREATE INDEX firings_by_run ON firings (flow_run_id)",
]

# v6: a store with a million runs: `flow-run ls` reads the newest runs first, a run is found by
# name, and retention deletes finished runs by when they ended
_V6 = [
    "CREATE INDEX flow_runs_by_start ON flow_runs (expected_start_time, created)",
    "CREATE INDEX flow_runs_by_name ON flow_runs (name)",
    "CREATE INDEX flow_runs_by_end ON flow_runs (end_time) WHERE end_time IS NOT NULL",
]

MIGRATIONS: list[list[str]] = [_V1, _V2, _V3, _V4, _V5, _V6]
SCHEMA_VERSION = len(MIGRATIONS)
