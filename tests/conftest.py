from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).parent / "fixtures"

TEST_TOPICS = {
    "outage": ["the app is down", "can't log in", "ログインできない", "サービスが落ちている"],
    "billing": ["charged twice", "refund", "二重請求", "返金"],
}


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Each test runs in an empty directory with no harken settings in the environment."""
    for name in list(os.environ):
        if name.startswith("HARKEN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def classifier():
    """The real bundled encoder and heads, loaded once for the whole run."""
    from harken.classify.classifier import Classifier

    return Classifier(topics=TEST_TOPICS, topic_threshold=0.45)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh, migrated SQLite store in the test's directory."""
    from harken.store import Store

    return Store(f"sqlite:///{tmp_path / 'h.db'}")


def write_config(directory: Path, text: str) -> Path:
    path = directory / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path
