"""Moving a community to a new chat id (SQLite and PostgreSQL, foreign keys on)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import chat_moves
from storage.models import (
    AuditRow,
    BadgeRow,
    Base,
    BlockedChatRow,
    CampaignRow,
    CampaignRunRow,
    CheckinRow,
    CommunityRow,
    InviteLinkRow,
    LedgerRow,
    MemberRow,
    OutgoingMessageRow,
    ReferralRow,
    RememberedReferralRow,
    UserRow,
)
from storage.uow import unit_of_work

OLD = -4001
NEW = -1_004_001
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ALICE, BOB, CAROL = 1001, 1002, 1003

Factory = async_sessionmaker[AsyncSession]


def community(chat_id: int, code: str | None) -> CommunityRow:
    return CommunityRow(
        id=chat_id,
        title="Seeds",
        timezone="Asia/Shanghai",
        language="zh",
        settings={"checkin": {"base_points": 7}},
        created_at=NOW,
        public_code=code,
    )


def member(chat_id: int, user_id: int, points: int) -> MemberRow:
    return MemberRow(
        community_id=chat_id,
        user_id=user_id,
        balance=points,
        lifetime_earned=points,
        tier=0,
        streak=1,
        is_member=True,
        activity_points_today=0,
    )


def earned(chat_id: int, user_id: int, points: int, key: str) -> list[Any]:
    return [
        LedgerRow(
            community_id=chat_id,
            user_id=user_id,
            amount=points,
            kind="checkin",
            idempotency_key=key,
            created_at=NOW,
        ),
        CheckinRow(
            community_id=chat_id,
            user_id=user_id,
            day=date(2026, 3, 2),
            streak=1,
            points=points,
            created_at=NOW,
        ),
    ]


async def populate(factory: Factory, *, new_chat_seen: bool) -> None:
    async with factory() as session, session.begin():
        session.add_all([UserRow(id=uid, first_name=f"U{uid}") for uid in (ALICE, BOB, CAROL)])
        session.add(community(OLD, "seeds"))
        if new_chat_seen:
            session.add(community(NEW, None))
        await session.flush()
        session.add_all([member(OLD, ALICE, 10), member(OLD, BOB, 5)])
        session.add_all(earned(OLD, ALICE, 10, "checkin:old:alice"))
        session.add_all(earned(OLD, BOB, 5, "checkin:old:bob"))
        if new_chat_seen:  # Alice checked in again, and Carol joined, in the new chat
            session.add_all([member(NEW, ALICE, 10), member(NEW, CAROL, 10)])
            session.add_all(earned(NEW, ALICE, 10, "checkin:new:alice"))
            session.add_all(earned(NEW, CAROL, 10, "checkin:new:carol"))
            session.add(BadgeRow(community_id=NEW, user_id=ALICE, badge="star", granted_at=NOW))
        session.add(BadgeRow(community_id=OLD, user_id=ALICE, badge="star", granted_at=NOW))
        session.add(
            InviteLinkRow(
                community_id=OLD, user_id=ALICE, code="abc", url="https://t.me/+abc", created_at=NOW
            )
        )
        session.add(
            ReferralRow(
                community_id=OLD,
                invitee_id=BOB,
                inviter_id=ALICE,
                status="pending",
                source="invite_link",
                joined_at=NOW,
            )
        )
        session.add(
            RememberedReferralRow(
                community_id=OLD, invitee_id=CAROL, inviter_id=ALICE, source="deep_link",
                created_at=NOW,
            )
        )  # fmt: skip
        campaign = CampaignRow(
            community_id=OLD,
            kind="custom",
            schedule="daily 09:00",
            text="Hi",
            status="active",
            grace_minutes=60,
            created_at=NOW,
        )
        session.add(campaign)
        await session.flush()
        session.add(
            CampaignRunRow(
                campaign_id=campaign.id, scheduled_at=NOW, outcome="queued", recorded_at=NOW
            )
        )
        session.add(AuditRow(community_id=OLD, action="award", detail="+10", created_at=NOW))
        session.add(
            OutgoingMessageRow(
                chat_id=OLD,
                dedup_key="welcome",
                kind="welcome",
                payload={"text": "hi"},
                status="sending",
                not_before=NOW,
                attempts=1,
                created_at=NOW,
            )
        )
        session.add(BlockedChatRow(chat_id=OLD, reason="kicked", blocked_at=NOW))


async def rows_of(factory: Factory, chat_id: int) -> dict[str, int]:
    async with factory() as session:
        counts = {}
        for table in Base.metadata.sorted_tables:
            column = table.c.get("community_id")
            if column is None:
                column = table.c.get("chat_id")
            if column is None and table.name == "communities":
                column = table.c.id
            if column is not None:
                counts[table.name] = int(
                    await session.scalar(
                        select(func.count()).select_from(table).where(column == chat_id)
                    )
                    or 0
                )
    return counts


async def move(factory: Factory) -> bool:
    async with unit_of_work(factory) as uow:
        return await chat_moves.move_community(uow, OLD, NEW, NOW)


async def test_a_community_moves_with_all_its_data_once(session_factory: Factory) -> None:
    await populate(session_factory, new_chat_seen=False)
    before = await rows_of(session_factory, OLD)
    assert await move(session_factory)
    assert not await move(session_factory)  # a second time changes nothing
    after = await rows_of(session_factory, NEW)
    assert {name: count for name, count in after.items() if name != "audit_log"} == {
        name: count for name, count in before.items() if name != "audit_log"
    }
    assert after["audit_log"] == before["audit_log"] + 1  # the move itself
    assert set((await rows_of(session_factory, OLD)).values()) == {0}
    async with session_factory() as session:
        moved = await session.get(CommunityRow, NEW)
        assert moved is not None
        assert (moved.public_code, moved.language, moved.settings) == (
            "seeds",
            "zh",
            {"checkin": {"base_points": 7}},
        )


async def test_a_new_chat_seen_first_is_merged_and_balances_match_the_ledger(
    session_factory: Factory,
) -> None:
    await populate(session_factory, new_chat_seen=True)
    assert await move(session_factory)
    async with session_factory() as session:
        members = {
            row.user_id: row
            for row in await session.scalars(select(MemberRow).where(MemberRow.community_id == NEW))
        }
        assert {uid: m.balance for uid, m in members.items()} == {ALICE: 20, BOB: 5, CAROL: 10}
        for uid, row in members.items():
            total = await session.scalar(
                select(func.sum(LedgerRow.amount)).where(
                    LedgerRow.community_id == NEW, LedgerRow.user_id == uid
                )
            )
            assert row.balance == total
        badges = await session.scalar(select(func.count()).where(BadgeRow.community_id == NEW))
        assert badges == 1
        moved = await session.get(CommunityRow, NEW)
        assert moved is not None and moved.public_code == "seeds" and moved.language == "zh"
        assert await session.get(CommunityRow, OLD) is None
