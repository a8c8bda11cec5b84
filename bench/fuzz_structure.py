"""Target (issue 20): 0 exits other than 0/1 over 10,000 structure-aware mutants through
validate, plan and apply (tests/project/structure_fuzz.py mutates; apply writes a throwaway store
per mutant, FLOWPLAN_HOME in a temporary directory).

Bases: the valid project in structure_fuzz.BASE, plus the shared corpus (when present) with
every entrypoint pointed at the fuzz flow, every pool at a declared process pool, and build and
push steps removed (they would run commands). Two worker processes (two cores), each under a
1 GB address-space cap (resource.setrlimit), run the commands in process, each under a 20 s
alarm; a worker that dies is reported with its input. Mutants that crash are written to
bench/results/structure_crashers/. Usage: `python bench/fuzz_structure.py [COUNT] [SEED]`."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import fuzz_workers, write

REPO = Path(__file__).resolve().parent.parent
CRASHERS = Path(__file__).resolve().parent / "results" / "structure_crashers"
WORKER = """
import json, random, resource, shutil, sys, time
from pathlib import Path
cap = 1 << 30
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
sys.path.insert(0, sys.argv[1])
from tests.project.fuzzing import Hang
from tests.project.structure_fuzz import dump, mutate, project, run_all
count, seed, tmp = int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
bases = json.loads(Path(sys.argv[5]).read_text())
rng = random.Random(seed)
for i in range(count):
    text = dump(mutate(rng.choice(bases), rng))
    (tmp / "current.yaml").write_text(text, errors="surrogatepass")
    root, home = tmp / "p", tmp / "home"
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    project(root, text)
    start = time.perf_counter()
    try:
        results = run_all(root, home)
    except Hang as exc:
        results = [("hang", "hang", str(exc))]
    except BaseException as exc:
        results = [("raised", "raised", repr(exc))]
    elapsed = time.perf_counter() - start
    bad = [(c, code, out[-400:]) for c, code, out in results if code not in (0, 1)]
    print(json.dumps({"codes": [code for _, code, _ in results], "s": elapsed, "bad": bad,
                      "text": text if bad else ""}), flush=True)
"""


def bases(tmp: Path) -> list[object]:
    """BASE and the corpus files that validate once pointed at the fuzz flow and pool."""
    sys.path.insert(0, str(REPO))
    import yaml
    from tests.conftest import CORPUS
    from tests.project.structure_fuzz import BASE, ENTRYPOINT, dump, project, run_all

    found: list[object] = [BASE]
    files = sorted(CORPUS.glob("*.y*ml")) if CORPUS.is_dir() else []
    for path in files:
        try:
            data = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("deployments"), list):
            continue
        data.pop("build", None)
        data.pop("push", None)
        data["work_pools"] = [{"name": "local", "type": "process"}]
        for deployment in data["deployments"]:
            if isinstance(deployment, dict):
                deployment.pop("build", None)
                deployment.pop("push", None)
                deployment["entrypoint"] = ENTRYPOINT
                deployment["work_pool"] = {"name": "local"}
        root = project(tmp / "base", dump(data))
        if run_all(root, tmp / "base-home", commands=(["validate"],))[0][1] == 0:
            found.append(data)
    return found


def tally(results: list[dict[str, Any]], index: int) -> dict[str, int]:
    """How many mutants the `index`-th command answered with each exit code."""
    codes = Counter(str(r["codes"][index]) for r in results if len(r["codes"]) > index)
    return dict(sorted(codes.items()))


def kinds(bad: list[dict[str, Any]]) -> dict[str, int]:
    """Crashes by command and exception: "apply: OperationalError: malformed JSON"."""
    found: Counter[str] = Counter()
    for result in bad:
        for command, _, printed in result["bad"]:
            line = next((x for x in printed.splitlines() if "Internal error" in x), printed[:80])
            found[f"{command}: {line.split('): ', 1)[-1]}"] += 1
    return dict(found.most_common())


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else random.randrange(2**32)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        documents = bases(Path(tmp))
        (Path(tmp) / "bases.json").write_text(json.dumps(documents, default=str))
        env = {**os.environ, "NO_COLOR": "1"}
        results, dead = fuzz_workers(WORKER, count, seed, Path(tmp), env,
                                     str(Path(tmp) / "bases.json"))  # fmt: skip
    bad = [r for r in results if r["bad"]]
    CRASHERS.mkdir(parents=True, exist_ok=True)
    for number, crash in enumerate(bad):
        (CRASHERS / f"{seed}-{number}.yaml").write_text(str(crash["text"]), errors="replace")
    commands = ("validate", "plan", "apply")
    write(
        "fuzz_structure",
        {
            "target": "0 exits other than 0/1 through validate, plan and apply",
            "seed": seed,
            "bases": len(documents),
            "mutants": len(results),
            "exits": {name: tally(results, i) for i, name in enumerate(commands)},
            "other": len(bad) + len(dead),
            "crash_kinds": kinds(bad),
            "examples": [r["bad"] for r in bad[:10]] + dead[:3],
            "slowest_mutant_s": round(max(float(str(r["s"])) for r in results), 2),
            "seconds": round(time.perf_counter() - started, 1),
            "meets_target": not bad and not dead,
        },
    )


if __name__ == "__main__":
    main()
