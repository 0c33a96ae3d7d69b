"""Email channel: Django's email API over the tenant's own SMTP server."""

from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend

from workflows.conf import workflow_settings
from workflows.models import TenantEmailSettings


class EmailNotConfigured(Exception):
    """The tenant has no active SMTP settings."""


def email_settings_get() -> TenantEmailSettings | None:
    return TenantEmailSettings.objects.filter(is_active=True).first()


def email_send(*, to: str, subject: str, body: str, message_key: str) -> None:
    """Send one plain-text email with the tenant's SMTP settings (call inside the tenant's schema).

    ``message_key`` makes the Message-ID stable across retries, so receiving
    servers can recognise a re-send after a crash. SMTP errors propagate.
    """
    smtp = email_settings_get()
    if smtp is None:
        raise EmailNotConfigured("The tenant has no active email (SMTP) settings.")
    # The explicit SMTP backend, not settings.EMAIL_BACKEND: these are the tenant's server and credentials.
    connection = EmailBackend(
        host=smtp.host,
        port=smtp.port,
        username=smtp.username or None,
        password=str(smtp.password) if smtp.password else None,
        use_tls=smtp.use_tls,
        use_ssl=smtp.use_ssl,
        timeout=workflow_settings().smtp_timeout_seconds,
        fail_silently=False,
    )
    domain = smtp.from_email.rpartition("@")[2] or "bizmitra.local"
    message = EmailMessage(
        subject=subject,
        body=body,
        from_email=smtp.from_email,
        to=[to],
        connection=connection,
        # A fixed Message-ID also spares Django's getfqdn() lookup, which can hang on hosts without DNS.
        headers={"Message-ID": f"<{message_key}@{domain}>"},
    )
    message.send(fail_silently=False)
