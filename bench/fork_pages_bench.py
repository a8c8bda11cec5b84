"""What the fork server's packing of the code (runtime/rehearsal.py `pack_code`) saves a run:
in a fresh interpreter preloaded as the fork server is (`engine.preload()`, then
`gc.freeze()`), forked children that each run the rehearsal's trivial flow through the engine's
own path and exit; the pages each copies (its minor faults) and its CPU. Three ways, in turn in
each round: without the packing, packed and rehearsed 8 times after (the code's setting), packed
and rehearsed 24 times. Also where the code a run executes lies, before and after packing
(distinct 4 KiB pages), and the anchor: a fork of the same server that exits at once. No
target of its own: it measures a part of the throughput target (throughput_bench.py)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from _common import compile_package, write

ROUNDS = int(os.environ.get("FLOWPLAN_BENCH_ROUNDS", "3"))
CHILDREN = 200
WAYS = {"unpacked": None, "packed, 8 warm-ups": 8, "packed, 24 warm-ups": 24}
# argv: the warm-ups after packing ('none': no packing), the number of children
SERVER = """
import gc, io, json, os, statistics, sys, tempfile, types
from pathlib import Path
from flowplan import masking
from flowplan.domain.objects import Deployment, FlowRun
from flowplan.runtime import engine, rehearsal
from flowplan.runtime.logs import LogSink

originals = {id(f.__code__): f.__code__ for f in gc.get_objects()
             if isinstance(f, types.FunctionType)}
packed = []
real_pack = rehearsal.pack_code
if sys.argv[1] == "none":
    rehearsal.pack_code = lambda: packed.append({})
else:
    rehearsal.WARMUP = int(sys.argv[1])
    rehearsal.pack_code = lambda: packed.append(real_pack())
engine.preload()
moved = [originals[key] for key in packed[0] if key in originals]
pages = lambda codes: len({id(code) >> 12 for code in codes})
directory = tempfile.mkdtemp()
import atexit, shutil
atexit.register(shutil.rmtree, directory, True)
(Path(directory) / "flows.py").write_text(rehearsal.FLOW)
import compileall
compileall.compile_dir(directory, quiet=1)
step = {"prefect.deployments.steps.set_working_directory": {"directory": directory}}
deployment = {**rehearsal.DEPLOYMENT, "pull_steps": [step], "entrypoint": "flows.py:rehearsal"}
gc.freeze()

def run():
    told = rehearsal.Rehearsed(FlowRun.from_json(rehearsal.RUN), Deployment.from_json(deployment))
    sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
    with LogSink(told.run.id, told.write_logs, masking.clean, thread=False) as sink:
        engine.execute(engine.Reporting(told, sink), told.run, told.deployment)
    return 0 if told.states[-1].value == "COMPLETED" else 1

def children(work):
    faults, cpu = [], []
    for _ in range(int(sys.argv[2])):
        pid = os.fork()
        if pid == 0:
            os._exit(work())
        _, status, usage = os.wait4(pid, 0)
        if status:
            sys.exit(f"a child failed: {status}")
        faults.append(usage.ru_minflt)
        cpu.append((usage.ru_utime + usage.ru_stime) * 1000)
    return statistics.median(faults), statistics.median(cpu)

pages_run, cpu_run = children(run)
pages_anchor, cpu_anchor = children(lambda: 0)
print(json.dumps({"pages": pages_run, "cpu_ms": cpu_run, "anchor_pages": pages_anchor,
                  "anchor_cpu_ms": cpu_anchor, "code": len(packed[0]),
                  "code_pages": [pages(moved), pages(packed[0][id(c)] for c in moved)]}))
"""


def measure(warmups: int | None) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", SERVER, "none" if warmups is None else str(warmups),
         str(CHILDREN)], capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    compile_package()
    rounds: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    for _ in range(ROUNDS):
        for way, warmups in WAYS.items():
            rounds[way].append(measure(warmups))

    def median(way: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds[way])

    ways = {
        way: {key: round(median(way, key), 2) for key in ("pages", "cpu_ms", "anchor_cpu_ms")}
        for way in WAYS
    }
    packed = rounds["packed, 8 warm-ups"][-1]
    before, after = packed["code_pages"]  # type: ignore[misc]
    unpacked, best = ways["unpacked"], ways["packed, 8 warm-ups"]
    write(
        "fork_pages",
        {
            "children": CHILDREN,
            "rounds": ROUNDS,
            # medians of the rounds (each the median of its children): pages a run copies, its
            # CPU, and the anchor's CPU in the same process
            "ways": ways,
            "code_objects_packed": packed["code"],
            "code_pages_before_after": [before, after],
            "rows": [
                {
                    "what": "pages a forked trivial run copies, the fork server's code packed",
                    "target": "(a part of the throughput target)",
                    "measured": f"{best['pages']:.0f} pages and {best['cpu_ms']:.2f} ms of CPU"
                    f" a run (packed, 8 warm-ups; 24 warm-ups:"
                    f" {ways['packed, 24 warm-ups']['pages']:.0f} pages) against"
                    f" {unpacked['pages']:.0f} pages and {unpacked['cpu_ms']:.2f} ms unpacked;"
                    f" the {packed['code']:.0f} code objects a run executes on {before} pages,"
                    f" packed on {after} (median of {ROUNDS} rounds of {CHILDREN} runs)",
                    "met": None,
                },
            ],
        },
    )


if __name__ == "__main__":
    main()
