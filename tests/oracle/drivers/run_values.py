"""Run by `.venv-prefect`'s Python: what each case's flow receives from Prefect's
`Flow.validate_parameters`, and from flowplan's coercion of a flowplan flow with pydantic
installed (as here). Cases: [{"annotation", "value"}]; answers: [{"prefect", "flowplan"}]."""

import warnings

from prefect import flow
from tests.oracle.shared import PRELUDE, answer_each, encode

from flowplan.runtime.coercion import ParameterError, coerce

warnings.filterwarnings("ignore")


def answer(index: int, case: dict) -> dict:
    namespace: dict = {}
    exec(PRELUDE + f"\ndef f(x: {case['annotation']}): ...\n", namespace)
    fn = namespace["f"]
    answer = {}
    try:
        answer["prefect"] = encode(flow(fn).validate_parameters({"x": case["value"]})["x"])
    except Exception as exc:
        answer["prefect"] = ["error", f"{type(exc).__name__}: {exc}"]
    try:
        answer["flowplan"] = encode(coerce(fn, fn, {"x": case["value"]})["x"])
    except ParameterError as exc:
        answer["flowplan"] = ["error", exc.message]
    except Exception as exc:
        answer["flowplan"] = ["error", f"{type(exc).__name__}: {exc}"]
    return answer


if __name__ == "__main__":
    answer_each(answer)
