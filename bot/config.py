from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/seedbot.db"


class DatabaseSettings(BaseSettings):
    """What `seedbot migrate` needs: only the database."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL


class Settings(DatabaseSettings):
    """Process settings read from the environment and `.env`."""

    bot_token: SecretStr
    bot_api_base_url: str | None = None
    timezone: str = "Asia/Shanghai"
    default_language: str = "zh"
    owner_ids: Annotated[frozenset[int], NoDecode] = Field(default_factory=frozenset)
    admin_cache_seconds: int = 60
    polling_timeout: int = 30
    due_work_seconds: int = 15
    log_level: str = "INFO"

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
        from zoneinfo import ZoneInfo

        ZoneInfo(value)
        return value
