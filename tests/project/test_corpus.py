"""Every real prefect.yaml in the shared corpus: no crash, precise findings only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flowplan.project.validate import validate_file
from tests.conftest import corpus_files

BROKEN_YAML = {
    "Ben-Epstein__prefect-modal__prefect.yaml": (36, "while scanning a simple key"),
    "PrefectHQ__prefect-demos__prefect.yaml": (3, "found undefined alias 'common_tags'"),
    "earthref__FIESTA__pipeline_prefect.yaml": (24, "mapping values are not allowed here"),
    "sureshdsk__vuln-hunter__workflows_prefect.yaml": (1, "expected '<document start>'"),
}
FINDING = re.compile(r"^[^:]+:\d+:\d+: (\S+: )?.+")
pytestmark = pytest.mark.corpus


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_file(path: Path) -> None:
    report = validate_file(path, path.name)
    unreadable = [f for f in report.findings if f.code == "unreadable"]
    if path.name in BROKEN_YAML:
        line, text = BROKEN_YAML[path.name]
        [finding] = unreadable
        assert finding.line == line and finding.column is not None
        assert text in finding.message and finding.message.startswith("YAML syntax error")
        return
    assert unreadable == []
    for finding in report.findings:
        assert finding.line is not None, finding  # every finding is positioned
        assert FINDING.match(finding.render()), finding.render()


def test_corpus_summary_is_stable() -> None:
    """The numbers quoted in the README: entrypoint files are not in the corpus, so those
    findings are left out; everything else counts."""
    valid = warnings_only = errors = 0
    for path in corpus_files():
        report = validate_file(path, path.name)
        findings = [f for f in report.findings if not f.code.startswith("entrypoint-")]
        if any(f.severity == "error" for f in findings):
            errors += 1
        elif findings:
            warnings_only += 1
        else:
            valid += 1
    assert valid + warnings_only + errors == len(corpus_files()) == 99
    assert (valid, warnings_only, errors) == (43, 35, 21)  # as the README says
