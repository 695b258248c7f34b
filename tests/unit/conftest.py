from __future__ import annotations

import pytest

from tests.unit.fakes import FakeClock, FakeStore, FakeUnitOfWorkFactory, SequentialIds


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/unit/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.unit)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> FakeStore:
    return FakeStore(clock=clock)


@pytest.fixture
def uow_factory(store: FakeStore) -> FakeUnitOfWorkFactory:
    return FakeUnitOfWorkFactory(store)


@pytest.fixture
def ids() -> SequentialIds:
    return SequentialIds()
