"""The words of `/shop`: a new item's line, ids, and the field an edit changes."""

from __future__ import annotations

from bot.domain.errors import N_, OutOfRange, TextTooLong, UnknownTier, UsageError
from bot.domain.models import NewItem, Tier

ADD_USAGE = N_("/shop add <price> <stock> <title> [tier=<tier>] [limit=<n>] [details=yes]")
EDIT_USAGE = N_("/shop edit <id> price|stock|title|tier|limit|details <value>")
REMOVE_USAGE = N_("/shop remove <id>")
MAX_PRICE = 1_000_000
MAX_STOCK = 1_000_000
MAX_LIMIT = 1_000
MAX_TITLE = 100
LARGEST_ID = 2**31 - 1
TIER_WORDS: dict[str, Tier] = {
    "newcomer": Tier.NEWCOMER,
    "member": Tier.MEMBER,
    "active": Tier.ACTIVE,
    "contributor": Tier.CONTRIBUTOR,
    "core": Tier.CORE,
    "新人": Tier.NEWCOMER,
    "成员": Tier.MEMBER,
    "活跃": Tier.ACTIVE,
    "贡献者": Tier.CONTRIBUTOR,
    "核心": Tier.CORE,
}
TIER_CHOICES = N_("newcomer, member, active, contributor, core")
NO_LIMIT_WORDS = frozenset({"none", "0", "off"})
YES_WORDS = frozenset({"yes", "on", "true", "1", "是", "要"})
NO_WORDS = frozenset({"no", "off", "false", "0", "否", "不"})
DETAILS_USAGE = N_("details=yes or details=no")


def _number(word: str, lowest: int, highest: int) -> int:
    try:
        value = int(word)
    except ValueError:
        raise OutOfRange(lowest=lowest, highest=highest) from None
    if not lowest <= value <= highest:
        raise OutOfRange(lowest=lowest, highest=highest)
    return value


def parse_id(word: str, usage: str) -> int:
    if not word.lstrip("#").isdecimal():
        raise UsageError(usage=usage)
    return _number(word.lstrip("#"), 1, LARGEST_ID)


def parse_tier(word: str) -> Tier:
    tier = TIER_WORDS.get(word.lower())
    if tier is None:
        raise UnknownTier(choices=TIER_CHOICES)
    return tier


def parse_limit(word: str) -> int | None:
    if word.lower() in NO_LIMIT_WORDS:
        return None
    return _number(word, 1, MAX_LIMIT)


def parse_yes_no(word: str) -> bool:
    lowered = word.lower()
    if lowered in YES_WORDS:
        return True
    if lowered in NO_WORDS:
        return False
    raise UsageError(usage=DETAILS_USAGE)


def parse_title(text: str) -> str:
    title = " ".join(text.split())
    if not title:
        raise UsageError(usage=ADD_USAGE)
    if len(title) > MAX_TITLE:
        raise TextTooLong(maximum=MAX_TITLE)
    return title


def parse_new_item(args: str) -> NewItem:
    """`<price> <stock> <title>`, with optional `tier=<tier>`, `limit=<n>` and `details=yes`
    (ask the buyer for delivery details) words anywhere after the numbers."""
    words = args.split()
    if len(words) < 3 or not words[0].isdecimal() or not words[1].isdecimal():
        raise UsageError(usage=ADD_USAGE)
    price = _number(words[0], 1, MAX_PRICE)
    stock = _number(words[1], 0, MAX_STOCK)
    tier, limit, details, title_words = Tier.NEWCOMER, None, False, []
    for word in words[2:]:
        key, _, value = word.partition("=")
        if key.lower() == "tier" and value:
            tier = parse_tier(value)
        elif key.lower() == "limit" and value:
            limit = parse_limit(value)
        elif key.lower() == "details" and value:
            details = parse_yes_no(value)
        else:
            title_words.append(word)
    return NewItem(parse_title(" ".join(title_words)), price, stock, tier, limit, details)


def parse_item_change(field: str, value: str) -> dict[str, object]:
    """`/shop edit <id> <field> <value>`: price, stock, title, tier (minimum tier) or limit
    (per member; `none` removes it) or details (`yes`: ask the buyer for delivery details),
    as the item's stored fields."""
    field = field.lower()
    if field == "price":
        return {"price": _number(value, 1, MAX_PRICE)}
    if field == "stock":
        return {"stock": _number(value, 0, MAX_STOCK)}
    if field == "title":
        return {"title": parse_title(value)}
    if field == "tier":
        return {"min_tier": int(parse_tier(value))}
    if field == "limit":
        return {"member_limit": parse_limit(value)}
    if field == "details":
        return {"asks_details": parse_yes_no(value.strip())}
    raise UsageError(usage=EDIT_USAGE)
