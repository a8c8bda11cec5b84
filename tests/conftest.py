from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowplan.main import main
from tests.postgres import Postgres, create_database, postgres_cluster
from tests.prefect_server import PrefectServer, Proxy, proxy, reset
from tests.prefect_server import prefect_server as start_prefect_server

DATABASES = ["sqlite", "postgresql"]  # what the Prefect servers of the tests run on

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
def postgres() -> Iterator[Postgres]:
    """One throwaway PostgreSQL cluster for the whole session."""
    with postgres_cluster() as server:
        yield server


PrefectPair = tuple[PrefectServer, Proxy]


@pytest.fixture(scope="session")
def prefect_on_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectPair]:
    """A real Prefect server on SQLite for the whole session (its first start takes about
    13 s), with a counting proxy in front of it."""
    with (
        start_prefect_server(tmp_path_factory.mktemp("prefect")) as server,
        proxy(server.url) as front,
    ):
        yield server, front


@pytest.fixture(scope="session")
def prefect_on_postgresql(
    tmp_path_factory: pytest.TempPathFactory, postgres: Postgres
) -> Iterator[PrefectPair]:
    """The same on PostgreSQL, as teams run Prefect's server in production."""
    create_database(postgres, "prefect")
    base = tmp_path_factory.mktemp("prefect")
    with start_prefect_server(base, postgres.url("prefect")) as server, proxy(server.url) as front:
        yield server, front


@pytest.fixture(scope="session", params=DATABASES)
def _prefect(request: pytest.FixtureRequest) -> PrefectPair:
    pair: PrefectPair = request.getfixturevalue(f"prefect_on_{request.param}")
    return pair


@pytest.fixture(scope="session")
def prefect_server(_prefect: PrefectPair) -> PrefectServer:
    """A real Prefect server: every test that uses it runs once on SQLite, once on PostgreSQL."""
    return _prefect[0]


@contextmanager
def emptied(pair: PrefectPair) -> Iterator[Proxy]:
    """The server, empty, behind its counting proxy, reset again afterwards."""
    server, front = pair
    reset(server.url)
    front.reset()
    yield front
    front.reset()


@pytest.fixture
def prefect_api(_prefect: PrefectPair) -> Iterator[Proxy]:
    """The server, empty, behind a counting proxy: tests talk to `prefect_api.url`."""
    with emptied(_prefect) as front:
        yield front
