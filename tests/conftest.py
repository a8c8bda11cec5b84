from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowplan.main import main
from tests.prefect_server import PrefectServer, Proxy, proxy, reset
from tests.prefect_server import prefect_server as start_prefect_server

REPO = Path(__file__).resolve().parent.parent
# ../shared beside the checkout (one level further up from mutmut's copy in mutants/)
CORPUS = next(
    (base / "shared" / "corpus" / "prefect-yaml" for base in REPO.parents
     if (base / "shared" / "corpus").is_dir()),
    REPO.parent / "shared" / "corpus" / "prefect-yaml",
)  # fmt: skip


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("FLOWPLAN_HOME", str(tmp_path / ".flowplan-home"))
    for name in (
        "FLOWPLAN_API_URL",
        "PREFECT_API_URL",
        "PREFECT_API_KEY",
        "FLOWPLAN_RUN_RETENTION",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the CLI in-process, returning the exit code and what it printed."""

    def run(*args: str) -> Result:
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Write files into a fresh project directory and change into it."""

    def make(files: dict[str, str]) -> Path:
        root = tmp_path / "proj"
        root.mkdir(exist_ok=True)
        write(root, files)
        monkeypatch.chdir(root)
        return root

    return make


def corpus_files() -> list[Path]:
    """The shared corpus's project files; none in a clone without it (the tests that read them
    carry the `corpus` marker, and `make test-corpus` fails when the corpus is missing)."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.suffix in (".yaml", ".yml"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """A selected corpus test without the corpus is a loud failure, never a quiet skip."""
    if CORPUS.is_dir():
        return
    needing = [item.nodeid for item in session.items if item.get_closest_marker("corpus")]
    if needing:
        raise pytest.UsageError(
            f"the shared corpus is missing at {CORPUS}: {len(needing)} selected tests need it "
            '(`make test` leaves them out with -m "not corpus")'
        )


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """One real Prefect server for the whole session (its first start takes about 13 s)."""
    with start_prefect_server(tmp_path_factory.mktemp("prefect")) as server:
        yield server


@pytest.fixture(scope="session")
def _prefect_proxy(prefect_server: PrefectServer) -> Iterator[Proxy]:
    with proxy(prefect_server.url) as front:
        yield front


@pytest.fixture
def prefect_api(prefect_server: PrefectServer, _prefect_proxy: Proxy) -> Iterator[Proxy]:
    """The server, empty, behind a counting proxy: tests talk to `prefect_api.url`."""
    reset(prefect_server.url)
    _prefect_proxy.reset()
    yield _prefect_proxy
    _prefect_proxy.reset()
