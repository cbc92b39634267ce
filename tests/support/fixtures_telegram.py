"""Pytest fixtures for the Telegram Bot API double; tests/conftest.py registers them with
`pytest_plugins = ["tests.support.fixtures_telegram"]`."""

from tests.support.telegram_double import telegram_api

__all__ = ["telegram_api"]
