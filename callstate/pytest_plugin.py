"""The pytest plugin of callstate (registered as an entry point; it needs nothing but pytest):
a ``switch`` fixture, a fresh ``Switch`` seeded from ``--callstate-seed`` (default 1), so every
id a test sees is the same from run to run."""

from __future__ import annotations

import pytest

from .switch import Switch

__all__ = ["switch"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--callstate-seed",
        type=int,
        default=1,
        help="seed of the callstate 'switch' fixture (default 1)",
    )


@pytest.fixture
def switch(request: pytest.FixtureRequest) -> Switch:
    """A new switch with no device, its ids drawn from ``--callstate-seed``."""
    seed: int = request.config.getoption("--callstate-seed")
    return Switch(seed=seed)
