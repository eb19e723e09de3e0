"""Round trips to PostgreSQL per check-in, counted at asyncpg's protocol, through the real bot:
every request the server answers (statements, savepoints, prepares) whoever sends it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench.statement_count import count_round_trips
from handlers.checkin import CheckinButton
from tests.e2e.conftest import GROUP_ID, Harness, api, clock
from tests.e2e.helpers import add_members, ledger_matches_balances
from tests.e2e.test_batching import harness

# A press, known member or first-time (its user written with the page's other senders): its
# savepoint (sent with the previous one's release), the member read (inserting a first-time
# member in the same statement, and telling whether the member is at risk), and the check-in
# with its activity count, its ledger row and the balance change.
PRESS_MAX = 3
# A page of ten claims its ids with a statement of its own size, and writes its new senders in
# one statement with a savepoint of its own: one more prepare, once, and two round trips.
NEW_PAGE_SIZE = 2
PAGE_SENDERS = 2
__all__ = ["api", "clock", "harness"]  # the end-to-end fixtures, used here too


@contextmanager
def round_trips() -> Iterator[list[str]]:
    seen: list[str] = []
    stop = count_round_trips(seen.append)
    try:
        yield seen
    finally:
        stop()


async def press_page(harness: Harness, users: list[int], post_id: int) -> None:
    updates = harness.api.press_buttons(GROUP_ID, post_id, users, CheckinButton().pack())
    for update in updates:
        await harness.api.wait_until_handled(update)


async def test_a_press_costs_few_round_trips_on_postgresql(harness: Harness) -> None:
    if harness.app.engine.dialect.name != "postgresql":
        pytest.skip("counts asyncpg's round trips (TEST_DATABASE_URL names the server)")
    warm_up, small, large = [2000], [2001], list(range(2101, 2111))
    first_time_warm_up, first_time = [3000], list(range(3101, 3111))
    add_members(harness, warm_up + small + large + first_time_warm_up + first_time)
    for user_id in warm_up + small + large:
        await harness.say(user_id, "hello")
    post_id = harness.replies()[0].message_id
    with round_trips() as seen:
        await harness.app.engine.dispose()  # connections opened from now on are counted
        await press_page(harness, warm_up, post_id)  # the new connection's set-up
        before = len(seen)
        await press_page(harness, small, post_id)
        one = len(seen) - before
        await press_page(harness, large, post_id)
        ten = len(seen) - before - one
        await press_page(harness, first_time_warm_up, post_id)  # its statements' prepares
        before = len(seen)
        await press_page(harness, first_time, post_id)
        ten_first_time = len(seen) - before
    answers = [a.get("text", "") for a in harness.api.callback_answers]
    assert sum("+10 points" in text for text in answers) == 23
    more_presses = len(large) - len(small)
    assert ten - one <= PRESS_MAX * more_presses + NEW_PAGE_SIZE, (one, ten)
    assert ten_first_time - one <= PRESS_MAX * more_presses + PAGE_SENDERS, (one, ten_first_time)
    await ledger_matches_balances(harness)
