"""Fixtures the web service's tests share: a token store and a token of each role."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.auth import TokenStore


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens.json")


@pytest.fixture
def tokens(store: TokenStore) -> dict[str, str]:
    return {
        "inspector": store.issue("inspector", "王监察"),
        "director": store.issue("director", "李主任", center="451224"),
        "ops": store.issue("ops", "运维"),
    }
