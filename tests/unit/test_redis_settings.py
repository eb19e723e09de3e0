"""REDIS_URL: checked when read, and its password never logged."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr, ValidationError

from seedbot.cli import redact_secrets_in_logs
from seedbot.config import Settings

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ"


def test_redis_url_is_optional_and_checked() -> None:
    assert Settings(bot_token=SecretStr(TOKEN)).redis_url is None
    url = "redis://:s3cret-pass@10.0.0.5:6379/2"
    settings = Settings(bot_token=SecretStr(TOKEN), redis_url=SecretStr(url))
    assert settings.redis_url is not None and settings.redis_url.get_secret_value() == url
    assert "s3cret" not in repr(settings)
    with pytest.raises(ValidationError, match="redis://"):
        Settings(bot_token=SecretStr(TOKEN), redis_url=SecretStr("http://10.0.0.5:6379"))


def test_the_redis_password_never_reaches_the_log() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        url = "rediss://worker:s3cret-pass@cache.example:6380/0"
        redact_secrets_in_logs(Settings(bot_token=SecretStr(TOKEN), redis_url=SecretStr(url)))
        logging.getLogger("redis").warning("Error connecting to %s", url)
    finally:
        root.removeHandler(handler)
    assert records and "s3cret-pass" not in records[0]
    assert "<REDIS_CREDENTIALS>" in records[0]
