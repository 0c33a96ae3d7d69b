from django.db import models


class TeamRole(models.TextChoices):
    """What a team member may do: owners configure everything, agents answer conversations."""

    OWNER = "owner", "Owner"
    AGENT = "agent", "Agent"
