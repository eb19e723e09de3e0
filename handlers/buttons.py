"""What a button's callback data may carry: every number is bounded by the column it is looked
up in, so a forged press (`v1lt:99999999999999999999`, `v1so:f:-1`) fails to decode, like a
press of an unknown or malformed button, and the fallback router answers it as a stale button
before anything reaches the database."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

INT32_MAX = 2**31 - 1
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

RowId = Annotated[int, Field(ge=1, le=INT32_MAX)]
"""An autoincrement id (lotteries, shop items and orders, surveys) or a ticket number."""

ChatId = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""A Telegram chat id (a group's is negative)."""

SmallCount = Annotated[int, Field(ge=0, le=INT32_MAX)]
"""A score or a number of days; the handler checks its own range."""
