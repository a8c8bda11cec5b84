"""Target: `flowplan validate` on a 20-deployment project with 5 flow files, whole process,
median <= 0.25 s. Anchor in the same run: `python -c pass` (interpreter start-up)."""

from __future__ import annotations

from pathlib import Path

from _common import flowplan_command, measure

RUNS = 21


def make_project(root: Path) -> None:
    (root / "flows").mkdir()
    for f in range(5):
        (root / "flows" / f"etl_{f}.py").write_text(
            "from typing import Optional\n\nfrom prefect import flow\n\n\n"
            + "".join(
                f"@flow(name='etl-{f}-{k}')\n"
                f"def etl_{f}_{k}(day: Optional[str] = None, limit: int = 10,\n"
                f"              tables: list[str] = []) -> None:\n"
                f"    '''Load data.'''\n    print(day, limit, tables)\n\n\n"
                for k in range(4)
            )
        )
    lines = ["name: bench", "prefect-version: 3.0.0", "pull:",
             "  - prefect.deployments.steps.set_working_directory:", "      directory: /opt/app",
             "deployments:"]  # fmt: skip
    for d in range(20):
        f, k = d % 5, d // 5
        lines += [
            f"  - name: deployment-{d}",
            f"    entrypoint: flows/etl_{f}.py:etl_{f}_{k}",
            "    tags: [bench, etl]",
            f"    parameters: {{limit: {d + 1}, tables: [a, b]}}",
            "    work_pool: {name: default, job_variables: {env: {MODE: prod}}}",
            f"    schedules: [{{cron: '{d} 2 * * *', timezone: Europe/Berlin, slug: nightly}}]",
        ]
    (root / "prefect.yaml").write_text("\n".join(lines) + "\n")


def main() -> None:
    measure(
        "validate",
        "flowplan validate, 20 deployments, 5 flow files: median <= 0.25 s",
        0.25,
        flowplan_command("validate"),
        make_project,
        RUNS,
    )


if __name__ == "__main__":
    main()
