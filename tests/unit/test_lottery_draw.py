"""The documented draw procedure, recomputed independently, and `seedbot verify-draw`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bot.domain.lotteries import (
    Ticket,
    commitment_of,
    entries_hash,
    entries_text,
    first_picks,
    parse_entries,
    picks,
)
from seedbot.cli import main, verify_draw

TICKETS = [Ticket(user, number) for user in (30, 4, 100, 7) for number in (1, 2)][:7]


def by_the_readme(seed: str, lines: list[str], count: int) -> list[str]:
    """The README's procedure, written from its text alone."""
    remaining = sorted(lines, key=lambda line: tuple(int(part) for part in line.split(":")))
    chosen: list[str] = []
    k = 0
    while remaining and len(chosen) < count:
        h = int(hashlib.sha256(f"{seed}:{k}".encode()).hexdigest(), 16)
        pick = remaining[h % len(remaining)]
        chosen.append(pick)
        user = pick.split(":")[0]
        remaining = [line for line in remaining if line.split(":")[0] != user]
        k += 1
    return chosen


def test_the_draw_follows_the_documented_procedure() -> None:
    seed = "9f" * 32
    lines = [str(ticket) for ticket in TICKETS]
    expected = by_the_readme(seed, lines, 4)
    assert [str(ticket) for ticket in first_picks(seed, TICKETS, 4)] == expected
    assert entries_text(TICKETS).splitlines()[:3] == ["4:1", "4:2", "7:1"]  # numeric order
    assert entries_hash(TICKETS) == hashlib.sha256(entries_text(TICKETS).encode()).hexdigest()
    assert commitment_of(seed) == hashlib.sha256(seed.encode()).hexdigest()


def test_a_member_is_picked_at_most_once_and_the_order_is_fixed() -> None:
    sequence = list(picks("seed", TICKETS))
    assert len(sequence) == 4  # four members, however many entries each
    assert len({ticket.user_id for ticket in sequence}) == 4
    assert list(picks("seed", reversed(TICKETS))) == sequence  # input order does not matter
    assert first_picks("seed", TICKETS, 2) == sequence[:2]
    assert first_picks("seed", TICKETS, 10) == sequence


def test_entry_lists_are_read_as_published() -> None:
    assert parse_entries("7:1\n4:2, 4:1\n") == [Ticket(4, 1), Ticket(4, 2), Ticket(7, 1)]
    with pytest.raises(ValueError, match="not an entry"):
        parse_entries("4-1")


def test_verify_draw_prints_the_commitment_hash_and_winners(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = "ab" * 32
    text = entries_text(TICKETS)
    path = tmp_path / "entries.txt"
    path.write_text(text + "\n", encoding="utf-8")
    main(["verify-draw", "--seed", seed, "--winners", "2", "--entries-file", str(path)])
    out = capsys.readouterr().out
    assert commitment_of(seed) in out
    assert f"entries: {len(TICKETS)}" in out and entries_hash(TICKETS) in out
    winners = first_picks(seed, TICKETS, 2)
    assert f"1. user {winners[0].user_id} (entry {winners[0].number}) - winner" in out
    assert f"2. user {winners[1].user_id} " in out
    assert "3. " not in out
    assert "next pick" in verify_draw(seed, 2, text, picks_shown=3)
    with pytest.raises(SystemExit) as exited:
        main(["verify-draw", "--seed", seed, "--winners", "2", "--entries", "x"])
    assert exited.value.code == 2
