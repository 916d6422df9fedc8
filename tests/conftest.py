"""Shared fixtures: the real bundled models (loaded once per session), stores, engines."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
import pytest_asyncio

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import contextlib

from bot.app import Runtime, build_runtime
from bot.settings import Settings
from bot.storage.sql.store import SqlStore
from bot.storage.sqlite import SQLiteStore
from knowledge.embedders import Embedder, HashEmbedder
from tests.backends import BACKENDS, Backend, backend_for

pytest_plugins = ["tests.plugins.staff_guard", "tests.plugins.log_scan", "tests.mailservers"]

DATA = Path(__file__).parent / "data"
SAMPLE_CATEGORIES = frozenset(
    {"refund", "shipping", "payment", "exchange", "cancel", "account", "promotion", "contact"}
)
"""The FAQ categories of the bundled sample shop (product.md's ``intent`` values)."""


@pytest.fixture(scope="session")
def real_embedders() -> Sequence[Embedder]:
    """The two bundled sentence models, loaded once for the whole test session."""
    from bot.app import load_embedders

    return load_embedders()


@pytest.fixture
def fake_embedders() -> Sequence[Embedder]:
    """Deterministic stand-ins for unit tests: two hashed-trigram embedders."""
    return [HashEmbedder("all-minilm-l6-v2", 128), HashEmbedder("use-multilingual-v3", 128)]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh SQLite file path."""
    return tmp_path / "ondo.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteStore]:
    """A real SQLite store on a temporary file."""
    opened = SQLiteStore.open(db_path)
    yield opened
    opened.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh database of each backend in turn (SQLite file, PostgreSQL schema)."""
    with backend_for(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def any_store(backend: Backend) -> SqlStore:
    """A real store on a fresh database, once per backend."""
    return backend.open()


@pytest.fixture(scope="session")
def sample_runtime_factory(
    real_embedders: Sequence[Embedder], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    """Builds runtimes on the bundled sample shop with the real models; embeddings are
    cached in one session database so only the first build embeds."""
    cache_db = tmp_path_factory.mktemp("cache") / "cache.db"
    built: list[Runtime] = []

    def build(db: Path | None = None, **overrides: object) -> Runtime:
        path = db or tmp_path_factory.mktemp("rt") / "ondo.db"
        if not path.exists() and cache_db.exists():
            _copy_db(cache_db, path)  # reuse the warmed embedding cache
        settings = Settings(db_path=str(path), **overrides)  # type: ignore[arg-type]
        runtime = build_runtime(settings, embedders=real_embedders)
        if not cache_db.exists():
            _copy_db(path, cache_db)
        built.append(runtime)
        return runtime

    yield build
    for runtime in built:
        with contextlib.suppress(Exception):
            runtime.close()


@pytest.fixture(scope="session")
def warm_db(sample_runtime_factory: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database whose embedding cache already holds the sample shop (copy it, don't use it)."""
    build = sample_runtime_factory
    assert callable(build)
    runtime = build()
    path = tmp_path_factory.mktemp("warm") / "warm.db"
    _copy_db(Path(runtime.settings.db_path), path)
    return path


def copy_db(source: Path, target: Path) -> None:
    """Copy a (possibly open, WAL-mode) SQLite database consistently."""
    _copy_db(source, target)


@pytest_asyncio.fixture
async def runtime(sample_runtime_factory: object) -> AsyncIterator[Runtime]:
    """A fresh runtime (own database) on the sample shop with the real models."""
    build = sample_runtime_factory
    assert callable(build)
    yield build()


def _copy_db(source: Path, target: Path) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@pytest.fixture
def cli_env(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    real_embedders: Sequence[Embedder],
    warm_db: Path,
) -> Iterator[Path]:
    """A clean working directory and ``ONDO_DB`` (returned) holding the sample's embeddings;
    the CLI loads the session's models instead of its own."""
    import bot.app

    monkeypatch.chdir(tmp_path)
    copy_db(warm_db, tmp_path / "cli.db")
    for name in ("ONDO_KB", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ONDO_HANDOFF_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONDO_DB", str(tmp_path / "cli.db"))
    monkeypatch.setattr(bot.app, "load_embedders", lambda: list(real_embedders))
    yield tmp_path / "cli.db"
