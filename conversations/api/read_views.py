"""Read-only API of a tenant's contacts, conversations and messages.

Served on the tenant's own domain; the DRF defaults authenticate (session, JWT,
``Bearer`` tenant API key) and require a signed-in principal. Lists are paginated
(``?page=``, ``?page_size=`` up to 100, default 25) and filtered by the FilterSets
in ``conversations.api.filters``.
"""

import os

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.views import APIView

from bizmitra.errors import NotFound
from conversations import selectors
from conversations.api.filters import ContactFilterSet, ConversationFilterSet, MessageFilterSet
from conversations.api.serializers import ContactSerializer, ConversationSerializer, MessageSerializer
from conversations.choices import MediaStatus
from conversations.models import Message


class ReadPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


class ContactListApi(generics.ListAPIView):
    """Contacts, newest first; ``?q=`` searches name, wa_id and user id."""

    serializer_class = ContactSerializer
    filterset_class = ContactFilterSet
    pagination_class = ReadPagination

    def get_queryset(self):
        return selectors.contact_list()


class ContactDetailApi(generics.RetrieveAPIView):
    serializer_class = ContactSerializer

    def get_object(self):
        contact = selectors.contact_get(contact_id=self.kwargs["pk"])
        self.check_object_permissions(self.request, contact)
        return contact


class ConversationListApi(generics.ListAPIView):
    """Conversations, newest activity first; ``?q=`` searches the contact's name, wa_id and user id."""

    serializer_class = ConversationSerializer
    filterset_class = ConversationFilterSet
    pagination_class = ReadPagination

    def get_queryset(self):
        return selectors.conversation_list()


class ConversationDetailApi(generics.RetrieveAPIView):
    serializer_class = ConversationSerializer

    def get_object(self):
        conversation = selectors.conversation_get(conversation_id=self.kwargs["pk"])
        self.check_object_permissions(self.request, conversation)
        return conversation


class ConversationMessageListApi(generics.ListAPIView):
    """A conversation's messages, oldest first."""

    serializer_class = MessageSerializer
    filterset_class = MessageFilterSet
    pagination_class = ReadPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular introspecting, no request kwargs
            return Message.objects.none()
        conversation = selectors.conversation_get(conversation_id=self.kwargs["pk"])
        self.check_object_permissions(self.request, conversation)
        return selectors.message_list(conversation=conversation)


class MessageDetailApi(generics.RetrieveAPIView):
    serializer_class = MessageSerializer

    def get_object(self):
        message = selectors.message_get(message_id=self.kwargs["pk"])
        self.check_object_permissions(self.request, message)
        return message


class _AnyAccept(DefaultContentNegotiation):
    """Lets ``Accept: image/jpeg`` through to a file download; error bodies are still JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class MessageMediaApi(APIView):
    """The downloaded media file of a message, behind the same authentication as the API."""

    content_negotiation_class = _AnyAccept

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file"),
            404: OpenApiResponse(description="No such message, or its media is not downloaded"),
        }
    )
    def get(self, request, pk: int):
        message = selectors.message_get(message_id=pk)
        self.check_object_permissions(request, message)
        if message.media_status != MediaStatus.DOWNLOADED or not message.media_file:
            raise NotFound("This message has no downloaded media.")
        try:
            handle = message.media_file.open("rb")
        except FileNotFoundError:
            raise NotFound("The media file is missing from storage.") from None
        return FileResponse(
            handle,
            content_type=message.media_mime_type or "application/octet-stream",
            filename=message.media_filename or os.path.basename(message.media_file.name),
            # Customers choose these files: rendered inline on the tenant's domain, an HTML or SVG
            # "document" would run script with the signed-in user's session.
            as_attachment=True,
        )
