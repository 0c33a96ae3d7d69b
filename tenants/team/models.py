from django.conf import settings
from django.db import models

from tenants.team.choices import TeamRole


class Invitation(models.Model):
    """An invitation for one email address to join this tenant's team with a role.

    Lives in the tenant's schema (users do too). The link carries a signed token naming the
    row (``tenants.team.services.invitation_token``); it works once (``accepted_at``), until
    ``expires_at``, and not after ``revoked_at`` (revoked, or replaced by a newer invitation).
    """

    email = models.EmailField()
    role = models.CharField(max_length=16, choices=TeamRole.choices, default=TeamRole.AGENT)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    # Why the email could not be sent (shown to the owner, who can copy the link instead).
    email_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["email"], name="team_invitation_email")]

    def __str__(self) -> str:
        return f"{self.email} ({self.role})"
