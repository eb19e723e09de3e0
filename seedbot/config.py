from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/seedbot.db"
TOKEN_PATTERN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,100}")
PROXY_SCHEMES = ("http", "https", "socks5")
WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class DatabaseSettings(BaseSettings):
    """What `seedbot migrate` needs: only the database."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    database_url: str = DEFAULT_DATABASE_URL


class Settings(DatabaseSettings):
    """Process settings read from the environment and `.env`."""

    bot_token: SecretStr
    bot_api_base_url: str | None = None
    telegram_proxy: SecretStr | None = None
    redis_url: SecretStr | None = None  # workers sharing Telegram's limits and caches
    timezone: str = "Asia/Shanghai"
    default_language: str = "zh"
    owner_ids: Annotated[frozenset[int], NoDecode] = Field(default_factory=frozenset)
    admin_cache_seconds: int = 60
    polling_timeout: int = 30
    due_work_seconds: int = 15
    background_sender: bool = True
    send_per_second: int = 30
    send_per_group_per_minute: int = 20
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port
    webhook_path: str = "/telegram/webhook"
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    webhook_batch_ms: int = Field(default=10, ge=0, le=1000)
    leader_retry_seconds: float = Field(default=10.0, gt=0, le=60)

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET_PATTERN.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be the public https:// address Telegram posts updates to")
        return value

    @field_validator("webhook_path")
    @classmethod
    def _check_webhook_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /, e.g. /telegram/webhook")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        if not TOKEN_PATTERN.fullmatch(value.get_secret_value()):
            raise ValueError("does not look like a token from BotFather (digits:letters)")
        return value

    @field_validator("bot_api_base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("telegram_proxy")
    @classmethod
    def _check_proxy(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        url = value.get_secret_value().strip()
        parts = urlsplit(url)
        if parts.scheme not in PROXY_SCHEMES:
            raise ValueError("must start with http://, https:// or socks5://")
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise ValueError("must name a host and a port, e.g. socks5://127.0.0.1:1080")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must be only scheme://[user:password@]host:port")
        return SecretStr(url.rstrip("/"))

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(REDIS_SCHEMES):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("owner_ids", mode="before")
    @classmethod
    def _parse_owner_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("default_language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        if value not in ("zh", "en"):
            raise ValueError("DEFAULT_LANGUAGE must be zh or en")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use a name like Asia/Shanghai") from None
        return value


def redacted_proxy(url: str) -> str:
    """The proxy URL as it may be logged: its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def proxy_credentials(url: str) -> list[str]:
    """The forms in which the proxy's credentials could appear in a log line."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return []
    userinfo = parts.netloc.rsplit("@", 1)[0]
    forms = [userinfo]
    if parts.password and len(unquote(parts.password)) >= 4:
        forms.append(unquote(parts.password))
    return forms
