from django.db import models


class LeadStage(models.TextChoices):
    NEW = "new", "New"
    CONTACTED = "contacted", "Contacted"
    QUALIFIED = "qualified", "Qualified"
    CONVERTED = "converted", "Converted"
    PAID = "paid", "Paid"
    LOST = "lost", "Lost"


# A lead can still be lost from these; paid and lost are the ends of the pipeline.
OPEN_STAGES = (LeadStage.NEW, LeadStage.CONTACTED, LeadStage.QUALIFIED, LeadStage.CONVERTED)


class LeadSource(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    WEBSITE = "website", "Website"
    TRIGGER_API = "trigger_api", "Trigger API"
    MANUAL = "manual", "Entered by a person"


class SignalKind(models.TextChoices):
    REPLY = "reply", "Replied"
    BUTTON_TAP = "button_tap", "Tapped a button"
    PRICING_INTENT = "pricing_intent", "Asked about pricing"
    DEMO_INTENT = "demo_intent", "Asked for a demo"
    FAST_RESPONSE = "fast_response", "Replied quickly"
    APPOINTMENT_BOOKED = "appointment_booked", "Booked an appointment"


class FollowUpState(models.TextChoices):
    NONE = "", "No follow-up"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class NotificationKind(models.TextChoices):
    LEAD_QUALIFIED = "lead_qualified", "Lead qualified"
    SLA_BREACHED = "sla_breached", "First-contact SLA breached"
    FOLLOW_UP_FAILED = "follow_up_failed", "Follow-up not sent"
    CALENDAR_SYNC_FAILED = "calendar_sync_failed", "Calendar sync failed"
    WORKFLOW_FAILED = "workflow_failed", "Workflow messages not scheduled"


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    RESCHEDULED = "rescheduled", "Rescheduled"
    CANCELLED = "cancelled", "Cancelled"
    COMPLETED = "completed", "Completed"


ACTIVE_APPOINTMENT_STATUSES = (AppointmentStatus.BOOKED, AppointmentStatus.RESCHEDULED)


class CalendarSyncState(models.TextChoices):
    NOT_CONFIGURED = "", "No calendar configured"
    PENDING = "pending", "Waiting to sync"
    SYNCED = "synced", "Synced"
    FAILED = "failed", "Failed"


# Fields a tenant may require before a lead counts as qualified.
CAPTURABLE_FIELDS = ("name", "email", "phone", "location", "product_interest")
