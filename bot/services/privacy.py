"""A member's own data: everything stored about them, feature by feature (/mydata)."""

from __future__ import annotations

import json
from datetime import datetime

from bot.ports import UnitOfWork

FORMAT_VERSION = 1


async def my_data(uow: UnitOfWork, user_id: int, now: datetime) -> bytes:
    """One UTF-8 JSON document: the user id, when it was made, and one section per feature
    (storage.privacy.PARTS), each a list of the stored rows that name the user."""
    sections = await uow.privacy.export_user(user_id)
    document = {
        "format": FORMAT_VERSION,
        "user_id": user_id,
        "exported_at": now.isoformat(),
        "sections": sections,
    }
    return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8")
