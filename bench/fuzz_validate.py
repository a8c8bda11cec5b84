"""Target (issue 9): no exit code other than 0 or 1 over thousands of mutated corpus files;
every input answered in <= 5 s and <= 300 MB (plus a 5 MB file of the largest shapes).

Two worker processes (this machine has two cores) validate random mutants in process, each
input under a 10 s alarm; a worker that dies (a segfault) is reported with its input. Usage:
`python bench/fuzz_validate.py [COUNT] [SEED]` (default 4,000 inputs, a random seed)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import fuzz_workers, write

REPO = Path(__file__).resolve().parent.parent
WORKER = """
import json, random, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.conftest import corpus_files
from tests.project.fuzzing import Hang, mutate, validate, write
count, seed, tmp = int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
corpus = [p.read_text() for p in corpus_files()]
rng = random.Random(seed)
for i in range(count):
    text = mutate(rng.choice(corpus), rng)
    path = tmp / "prefect.yaml"
    write(path, text)
    (tmp / "current.yaml").write_text(text, errors="surrogatepass")
    start = time.perf_counter()
    try:
        code, printed = validate(path)
    except Hang as exc:
        code, printed = "hang", str(exc)
    except BaseException as exc:
        code, printed = "raised", repr(exc)
    elapsed = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"code": code, "s": elapsed, "rss_mb": rss,
                      "out": printed[-300:] if code not in (0, 1) else ""}), flush=True)
"""


def big_file(tmp: Path, text_length: int) -> Path:
    """5 MB of what real files hold most: deployments with parameters and schedules (short
    texts: more values than the limit; long ones: fewer, all validated)."""
    block = (
        "  - name: d{i}\n    entrypoint: flows/f.py:f\n    tags: [etl, nightly]\n"
        "    parameters: {{day: today, n: {i}, text: '" + "x" * text_length + "'}}\n"
        "    schedules: [{{cron: '0 2 * * *', timezone: Europe/Berlin}}]\n"
    )
    lines, size, i = ["deployments:\n"], 0, 0
    while size < 5 * 1024 * 1024 - 2 * len(block):
        lines.append(block.format(i=i))
        size += len(lines[-1])
        i += 1
    path = tmp / f"big-{text_length}.yaml"
    path.write_text("".join(lines))
    return path


def time_big(path: Path, env: dict[str, str]) -> dict[str, object]:
    argv = [sys.executable, "-c", BIG, str(path)]
    before = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - before
    code, rss, message = done.stdout.split("\t", 2) if done.stdout else ("?", "0", done.stderr)
    return {"exit": int(code) if code.isdigit() else code, "seconds": round(seconds, 2),
            "peak_rss_mb": round(float(rss), 1), "message": message.strip()[-160:]}  # fmt: skip


BIG = """
import io, contextlib, resource, sys
from flowplan.main import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
    code = main(["validate", "--ignore", "entrypoint-not-found", sys.argv[1]])
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(code, rss, out.getvalue().replace(chr(10), " "), sep=chr(9))
"""


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else random.randrange(2**32)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FLOWPLAN_HOME": str(Path(tmp) / "home")}
        results, dead = fuzz_workers(WORKER, count, seed, Path(tmp), env)
        big = [time_big(big_file(Path(tmp), length), env) for length in (200, 1000)]
    bad = [r for r in results if r["code"] not in (0, 1)]
    big_ok = all(
        b["exit"] in (0, 1) and float(str(b["seconds"])) <= 5
        and float(str(b["peak_rss_mb"])) <= 300 for b in big
    )  # fmt: skip
    write(
        "fuzz_validate",
        {
            "target": "0 exits other than 0/1; each input <= 5 s and <= 300 MB",
            "seed": seed,
            "inputs": len(results),
            "exit_0": sum(r["code"] == 0 for r in results),
            "exit_1": sum(r["code"] == 1 for r in results),
            "other": len(bad) + len(dead),
            "examples": [r["out"] for r in bad[:5]] + dead[:3],
            "slowest_input_s": round(max(float(str(r["s"])) for r in results), 3),
            "peak_rss_mb": round(max(float(str(r["rss_mb"])) for r in results), 1),
            "files_5mb": big,
            "seconds": round(time.perf_counter() - started, 1),
            "meets_target": not bad and not dead and big_ok,
        },
    )


if __name__ == "__main__":
    main()
