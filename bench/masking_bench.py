"""What masking costs a run's logs: `masking.clean` over 10,000 log lines of 100 characters
(1 in 100 holding a secret), with 1, 10 and 100 JSON secrets of 5 fields registered (each
registers its fields and its whole text in several forms). Anchor in the same run: the former
masking (one substring test, then replace, per registered text) over the same lines.

No target in the issue; the numbers go to results/masking.json for the closing note."""

from __future__ import annotations

import json
import statistics
import time
import uuid

from _common import write

from flowplan import masking

RUNS = 15
LINES = 10_000


def median_ms(action) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def former(texts: list[str], ordered: list[str]) -> list[str]:
    masked = []
    for text in texts:
        for secret in ordered:
            if secret in text:
                text = text.replace(secret, masking.MASK)
        masked.append(text)
    return masked


def main() -> None:
    results = {}
    registered = 0
    for secrets in (1, 10, 100):
        values = []
        while registered < secrets:
            fields = {f"f{i}": uuid.uuid4().hex[: 8 + i] for i in range(5)}
            masking.register(json.dumps(fields))
            values.extend(fields.values())
            registered += 1
        lines = [
            f"INFO | step {n:05d} | {values[n % len(values)] if n % 100 == 0 else 'x' * 16} "
            + "ordinary log text " * 4
            for n in range(LINES)
        ]
        ordered = sorted(masking._secrets, key=len, reverse=True)
        results[f"{secrets}_secrets"] = {
            "registered_texts": len(ordered),
            "clean_ms": median_ms(lambda lines=lines: [masking.clean(line) for line in lines]),
            "former_mask_ms": median_ms(lambda lines=lines, o=ordered: former(lines, o)),
        }
    write(
        "masking",
        {
            "what": f"masking.clean over {LINES} log lines of ~100 characters, median of {RUNS}",
            **results,
        },
    )


if __name__ == "__main__":
    main()
