"""Celery tasks of the conversations app (autodiscovered as ``conversations.tasks``)."""

from conversations.ai.tasks import *  # noqa: F403
from conversations.engine.tasks import *  # noqa: F403
from conversations.tasks.inbound import *  # noqa: F403
from conversations.tasks.outbound import *  # noqa: F403
