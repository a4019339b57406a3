"""Test configuration. Fixtures that start real servers live in tests/fixtures/ and load here."""

pytest_plugins = [
    "tests.fixtures.infra",
    "tests.fixtures.s3",
    "tests.fixtures.tasks",
    "tests.fixtures.torch_threads",
]
