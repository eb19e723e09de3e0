from __future__ import annotations

from typing import ClassVar


def N_(msgid: str) -> str:  # noqa: N802 - the conventional gettext no-op marker
    """Marks a message for translation where it is defined; translated where it is shown."""
    return msgid


class DomainError(Exception):
    """An expected refusal: rendered to the user as a translated message, changes nothing.

    `message` is a gettext msgid with `{name}` placeholders filled from `params`; the params
    named in `translated_params` are msgids too, translated before they are filled in.
    """

    message: ClassVar[str] = N_("Something went wrong.")
    translated_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: object) -> None:
        super().__init__(self.message.format(**params) if params else self.message)
        self.params = params


class ModeratorsOnly(DomainError):
    """A moderator's command from someone else: said once a minute per member and group."""

    message = N_("Only moderators of this group can use this command.")


class UsageError(DomainError):
    message = N_("Usage: {usage}")
    translated_params = ("usage",)


class InvalidAmount(DomainError):
    message = N_("The amount must be a whole number greater than 0.")


class AmountTooLarge(DomainError):
    message = N_("The amount may not exceed {maximum} points at once.")


class UnknownTarget(DomainError):
    message = N_(
        "I don't know that member: {target}. "
        "Reply to one of their messages, or use @username or their numeric id."
    )


class MissingTarget(DomainError):
    message = N_(
        "Tell me who: reply to one of their messages, or give @username or their numeric id."
    )


class InsufficientBalance(DomainError):
    message = N_("{name} has only {balance} points; cannot deduct {amount}.")


class ReasonTooLong(DomainError):
    message = N_("The reason is too long (at most {maximum} characters).")


class UnknownBadge(DomainError):
    message = N_("Unknown badge. Use one of: {choices}.")


class NotEligible(DomainError):
    message = N_("Bots, anonymous admins and channels cannot hold points.")


class MissingInviteRight(DomainError):
    message = N_(
        "I can't create invite links here. A moderator must make me an administrator "
        "with the “Invite users via link” right."
    )


class UnknownReferralCode(DomainError):
    message = N_("This invite link is not valid any more. Ask your friend for a new one.")


class InvalidTemplate(DomainError):
    message = N_("Unknown placeholder {placeholder}. You can use: {allowed}.")


class TextTooLong(DomainError):
    message = N_("That text is too long (at most {maximum} characters).")


class NotAMember(DomainError):
    message = N_("You are not a member of {group} yet.")


class InvalidSchedule(DomainError):
    message = N_(
        "I can't read that schedule. Use one of: at 2026-12-24 20:00 | daily 09:00 | "
        "weekly mon 20:00 | monthly 1 10:00 | cron 0 9 * * 1-5"
    )


class PastSchedule(DomainError):
    message = N_("That time has already passed.")


class InvalidMarkup(DomainError):
    message = N_("The text's HTML formatting is not valid: {problem}")
    translated_params = ("problem",)


class UnknownCampaign(DomainError):
    message = N_("There is no campaign #{campaign_id} in this group.")


class PrivateChatNeeded(DomainError):
    message = N_("Start a private chat with me first (open my profile and press Start).")


class UnknownTimezone(DomainError):
    message = N_("Unknown timezone {timezone}. Use a name like Asia/Shanghai or Europe/Berlin.")


class OutOfRange(DomainError):
    message = N_("The number must be between {lowest} and {highest}.")


class CannotAwardSelf(DomainError):
    message = N_("Moderators cannot award points to themselves.")


class AwardQuotaExceeded(DomainError):
    message = N_(
        "That is over your monthly award quota: {remaining} of {quota} points left this month."
    )


class UnknownLedgerEntry(DomainError):
    message = N_("There is no award or deduction #{entry_id} in this group.")


class AlreadyRevoked(DomainError):
    message = N_("Entry #{entry_id} was already revoked.")


class RevokeExceedsBalance(DomainError):
    message = N_("{name} has only {balance} points left; the award of {amount} cannot be revoked.")


class OwnersOnly(DomainError):
    message = N_(
        "Only the bot's owners (the user ids in OWNER_IDS in the bot's settings) can change this."
    )


class AnonymousModerator(DomainError):
    message = N_(
        "Anonymous admins cannot award points or revoke entries: every award counts against "
        "one moderator's quota. Turn off “Remain anonymous” and send the command again."
    )


class CannotRevokeOwnEntry(DomainError):
    message = N_("Moderators cannot revoke an award or deduction made to themselves.")


class UnknownShopItem(DomainError):
    message = N_("There is no item #{item_id} in this group's shop.")


class ItemSoldOut(DomainError):
    message = N_("Sorry, {title} is sold out.")


class NotEnoughPoints(DomainError):
    message = N_("{title} costs {price} points; you have {balance}.")


class TierTooLow(DomainError):
    message = N_("{title} is for members of the {tier} tier and above.")
    translated_params = ("tier",)


class MemberLimitReached(DomainError):
    message = N_("You can redeem {title} at most {limit} times.")


class UnknownOrder(DomainError):
    message = N_("There is no order #{order_id} in this group.")


class OrderAlreadySettled(DomainError):
    message = N_("Order #{order_id} was already settled.")


class RejectionNotStarted(DomainError):
    message = N_("Press ❌ Reject under order #{order_id} first, then confirm.")


class UnknownTier(DomainError):
    message = N_("Unknown tier. Use one of: {choices}.")
    translated_params = ("choices",)


class UnknownLottery(DomainError):
    message = N_("There is no lottery #{lottery_id} in this group.")


class LotteryClosed(DomainError):
    message = N_("Lottery #{lottery_id} is closed.")


class LotteryNotDrawn(DomainError):
    message = N_("Lottery #{lottery_id} has not been drawn yet.")


class NotEligibleForLottery(DomainError):
    message = N_("You cannot enter this lottery: {reason}")
    translated_params = ("reason",)


class EntryLimitReached(DomainError):
    message = N_("You already have {count} of {maximum} entries in this lottery.")


class NotEnoughPointsToEnter(DomainError):
    message = N_("An entry costs {cost} points; you have {balance}.")


class NotAWinner(DomainError):
    message = N_("{name} is not a current winner of lottery #{lottery_id}.")


class NoMoreEntrants(DomainError):
    message = N_("Every remaining entrant has already been picked; nobody can replace them.")


class QuizFileInvalid(DomainError):
    message = N_("Nothing was imported. {place}: {reason}")
    translated_params = ("place", "reason")


class QuizFileUnreadable(DomainError):
    message = N_("Nothing was imported: {reason}")
    translated_params = ("reason",)


class QuizFileMissing(DomainError):
    message = N_(
        "Reply /quiz import to a file with the questions (YAML, JSON or CSV), or send the file "
        "with /quiz import as its caption."
    )


class QuizFileNotReady(DomainError):
    message = N_("I could not download that file. Try again in a moment.")


class QuizFileTooLarge(DomainError):
    message = N_("Nothing was imported: the file is larger than {limit}.")


class NoQuizQuestions(DomainError):
    message = N_(
        "There are no quiz questions for that yet. Add some with /quiz add or /quiz import."
    )


class QuizAlreadyRunning(DomainError):
    message = N_("A quiz is already running here.")


class QuizQuestionInvalid(DomainError):
    message = N_("The question was not added: {reason}")
    translated_params = ("reason",)


class UnknownQuizSchedule(DomainError):
    message = N_("There is no scheduled quiz #{schedule_id} in this group.")
