"""The CI soak: 500 streaming clients for 20 s against one server process (`make soak` runs 60 s)."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.load import soak


async def test_500_streaming_clients_for_20_seconds(tmp_path: Path) -> None:
    result = await soak(500, 20, tmp_path)
    print(result.summary())
    assert not result.errors, result.errors[:10]
    assert result.turns >= 500, result.summary()
    assert result.passed, result.summary()
