"""Reads of the conversation engine (call inside the tenant's schema). Any signed-in principal
of the tenant may read them, like the rest of the conversations API."""

from django.db.models import QuerySet

from bizmitra.errors import NotFound
from conversations.models import Bot, BotSchedule


def bot_list() -> QuerySet[Bot]:
    return Bot.objects.prefetch_related("phone_numbers", "working_hours").select_related("handoff_settings")


def bot_names_by_id() -> dict[int, str]:
    """{id: name} of the tenant's bots: what ``templates`` may scope a flow rule to."""
    return dict(Bot.objects.order_by().values_list("id", "name"))


def bot_get(*, bot_id: int) -> Bot:
    """The bot with this id, or ``NotFound``."""
    bot = bot_list().filter(pk=bot_id).first()
    if bot is None:
        raise NotFound("Bot not found.")
    return bot


def bot_schedule_list(*, bot: Bot) -> QuerySet[BotSchedule]:
    return BotSchedule.objects.filter(bot=bot).order_by("-created_at", "-id")
