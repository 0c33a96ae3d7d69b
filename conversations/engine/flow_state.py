"""Where each contact is in the flows: the one write and the one read of ``ConversationState``.

``templates.services.flow_match`` decides from this state (any object with ``.state`` and
``.last_template_id``); the engine records what it did here afterwards.
"""

from __future__ import annotations

from django.utils import timezone

from conversations.models import ConversationState


def conversation_state_get(*, contact) -> ConversationState | None:
    """The contact's flow state, or None before its first flow. Call inside the tenant's schema."""
    return ConversationState.objects.select_related("last_template").filter(contact=contact).first()


def conversation_state_advance(*, contact, template=None, state: str | None = None) -> ConversationState:
    """Record that ``template`` (a ``templates.MessageTemplate``) was sent to ``contact``
    and/or move it to ``state``.

    ``template=None`` keeps ``last_template``; ``state=None`` keeps the state, ``""``
    clears it. Call inside the tenant's schema after the send is queued (an engine
    decision's ``template`` and ``next_state`` go straight in). One statement, an
    ``INSERT … ON CONFLICT (contact) DO UPDATE``, so concurrent deliveries for one contact
    converge on one row (and the engine's pinned query count stays put). Returns the row
    with its pk; only the fields this call set are current on it (``refresh_from_db`` for
    the rest).
    """
    row = ConversationState(contact_id=contact.pk, updated_at=timezone.now())
    update_fields = ["updated_at"]
    if template is not None:
        row.last_template_id = template.pk
        update_fields.append("last_template")
    if state is not None:
        row.state = state
        update_fields.append("state")
    ConversationState.objects.bulk_create(
        [row], update_conflicts=True, unique_fields=["contact"], update_fields=update_fields
    )
    return row
