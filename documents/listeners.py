"""Documents reacts to conversations' events: a stored image or PDF becomes a Document."""

import logging

from django_tenants.utils import schema_context

from bizmitra.events import listens_to

logger = logging.getLogger(__name__)


@listens_to("message.media_stored")
def document_from_stored_media(*, event_name: str, schema_name: str, message_id: int, **payload) -> None:
    from documents.services import document_create_from_message

    with schema_context(schema_name):
        document_create_from_message(message_id=message_id)
