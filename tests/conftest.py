"""Fixtures shared across test modules, loaded as plugins so no test imports a fixture."""

pytest_plugins = ["tests.claude_helpers", "tests.cli_fixtures", "tests.telegram_fixtures"]
