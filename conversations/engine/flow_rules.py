"""Bots as the flow rules of ``templates`` see them. Templates sits below conversations, so
it names a bot by a plain ``FlowRule.bot_id`` and asks through ``templates.hooks``; this
module answers those hooks and deletes a bot's rules with the bot (what the foreign key's
CASCADE did: turning them tenant-wide would silently change what every other bot answers).
"""

from __future__ import annotations

from django.db.models.signals import post_delete

from conversations.engine.selectors import bot_names_by_id
from conversations.models import Bot
from conversations.services.outbound import message_send
from templates import hooks as templates_hooks
from templates.models import FlowRule


def _flow_rules_of_bot_delete(sender, instance: Bot, **kwargs) -> None:
    # A receiver rather than a service: bots are deleted by the admin (one or a queryset),
    # and this must hold for every way of deleting one, inside the same transaction.
    FlowRule.objects.filter(bot_id=instance.pk).delete()


def install() -> None:
    """Called once from ``ConversationsConfig.ready``."""
    templates_hooks.install(bot_names_getter=bot_names_by_id, sender=message_send)
    post_delete.connect(_flow_rules_of_bot_delete, sender=Bot, dispatch_uid="flow_rules_of_bot_delete")
