"""The leadership loop with a lock the test controls: who leads, what starts and stops."""

from __future__ import annotations

import asyncio

import pytest

from runtime.leader import Leadership, leader_key


class ScriptedLock:
    def __init__(self, free: bool = True) -> None:
        self.free = free
        self.held = False
        self.alive = True
        self.hang = False
        self.released = 0

    async def try_acquire(self) -> bool:
        if self.hang:
            await asyncio.Event().wait()
        self.held = self.free
        return self.held

    async def still_held(self) -> bool:
        if self.hang:
            await asyncio.Event().wait()
        return self.held and self.alive

    async def release(self) -> None:
        self.held = False
        self.released += 1


class Work:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[str] = []
        self.fail = fail

    async def start(self) -> None:
        self.events.append("start")
        if self.fail:
            raise RuntimeError("the scheduler could not start")

    async def stop(self) -> None:
        self.events.append("stop")


def leadership(lock: ScriptedLock, work: Work, timeout: float = 10.0) -> Leadership:
    return Leadership(lock, work.start, work.stop, timeout=timeout)


async def test_a_follower_leads_once_the_lock_is_free_and_stops_when_it_is_lost() -> None:
    lock, work = ScriptedLock(free=False), Work()
    leader = leadership(lock, work)
    assert await leader.step() is False
    lock.free = True
    assert await leader.step() is True
    assert await leader.step() is True  # a check, nothing started again
    lock.alive = False  # the connection broke
    assert await leader.step() is False
    assert work.events == ["start", "stop"]
    assert lock.released == 1


async def test_a_lock_that_does_not_answer_counts_as_lost() -> None:
    lock, work = ScriptedLock(), Work()
    leader = leadership(lock, work, timeout=0.05)
    assert await leader.step() is True
    lock.hang = True
    assert await leader.step() is False
    assert work.events == ["start", "stop"]


async def test_work_that_cannot_start_lets_the_lock_go_for_another_worker() -> None:
    lock, work = ScriptedLock(), Work(fail=True)
    leader = leadership(lock, work)
    assert await leader.step() is False
    assert work.events == ["start", "stop"]
    assert lock.released == 1 and not lock.held


async def test_the_loop_waits_between_attempts_as_told() -> None:
    waits: list[float] = []
    lock, work = ScriptedLock(free=False), Work()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            lock.free = True
        if len(waits) == 4:
            raise asyncio.CancelledError

    leader = Leadership(lock, work.start, work.stop, retry_seconds=10, check_seconds=3, sleep=sleep)
    with pytest.raises(asyncio.CancelledError):
        await leader.run()
    assert waits == [10, 10, 3, 3]
    await leader.close()
    assert work.events == ["start", "stop"]


def test_each_bot_has_its_own_lock_key() -> None:
    assert leader_key(1) == leader_key(1)
    assert leader_key(1) != leader_key(2)
    assert -(2**63) <= leader_key(123456) < 2**63
