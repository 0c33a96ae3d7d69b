"""Enumerations of the workflows app."""

from django.db import models


class Channel(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    EMAIL = "email", "Email"


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_JOB_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class CallbackState(models.TextChoices):
    NONE = "none", "No callback"
    PENDING = "pending", "Pending"
    DELIVERING = "delivering", "Delivering"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class StandardTrigger(models.TextChoices):
    """Triggers every tenant has; tenants may also fire their own slugs."""

    APPOINTMENT_CONFIRMED = "appointment_confirmed", "Appointment confirmed"
    APPOINTMENT_REMINDER = "appointment_reminder", "Appointment reminder"
    APPOINTMENT_CANCELLED = "appointment_cancelled", "Appointment cancelled"
    APPOINTMENT_RESCHEDULED = "appointment_rescheduled", "Appointment rescheduled"
    PRODUCT_PURCHASED = "product_purchased", "Product purchased"
    SERVICE_ENROLLED = "service_enrolled", "Service enrolled"
    LEAD_CAPTURED = "lead_captured", "Lead captured"


# Jobs that an appointment_rescheduled trigger moves to the new appointment time.
REMINDER_TRIGGERS = frozenset({StandardTrigger.APPOINTMENT_REMINDER})
