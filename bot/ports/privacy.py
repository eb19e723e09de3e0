"""/mydata, /forgetme and a group's exports."""

from __future__ import annotations

from typing import Any, Protocol


class PrivacyRepository(Protocol):
    async def export_user(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """Every feature's stored rows about the user, by section (storage.privacy.PARTS)."""
        ...

    async def community_rows(
        self, community_id: int, kind: str, limit: int
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """members|ledger|checkins|referrals of a group: header and rows, oldest first."""
        ...

    async def erase_user(self, user_id: int) -> dict[str, int]:
        """/forgetme: the user's rows deleted or anonymized, part by part; rows changed by
        section (storage.privacy.PARTS)."""
        ...


class PrivacyPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def privacy(self) -> PrivacyRepository: ...
