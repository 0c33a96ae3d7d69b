"""Output serializers of the read API (contacts, conversations, messages)."""

from django.urls import reverse
from rest_framework import serializers

from conversations.choices import MediaStatus
from conversations.models import Contact, Conversation, Message


class ContactSummarySerializer(serializers.ModelSerializer):
    """A contact as embedded in a conversation.

    ``wa_id`` is null when Meta left the phone number out and the contact is
    known only by its business-scoped ``user_id`` (and vice versa).
    """

    class Meta:
        model = Contact
        fields = ["id", "wa_id", "user_id", "profile_name", "last_inbound_at", "opted_out_at"]
        read_only_fields = fields


class ContactSerializer(ContactSummarySerializer):
    conversation_id = serializers.IntegerField(read_only=True, allow_null=True, help_text="Null until they write.")

    class Meta(ContactSummarySerializer.Meta):
        fields = [*ContactSummarySerializer.Meta.fields, "conversation_id", "created_at"]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    contact = ContactSummarySerializer(read_only=True)
    assigned_agent_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "contact",
            "phone_number_id",
            "status",
            "assigned_agent_id",
            "handed_off_at",
            "handoff_reason",
            "last_message_at",
            "created_at",
        ]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    conversation_id = serializers.IntegerField(read_only=True)
    reaction_to_id = serializers.IntegerField(read_only=True, allow_null=True)
    sent_by_id = serializers.IntegerField(read_only=True, allow_null=True)
    media_url = serializers.SerializerMethodField(help_text="Where to fetch the downloaded file (same credentials).")

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation_id",
            "direction",
            "type",
            "body",
            "payload_id",
            "payload_title",
            "payload",
            "wamid",
            "context_wamid",
            "reaction_to_id",
            "idempotency_key",
            "status",
            "error_code",
            "error_title",
            "error_details",
            "attempts",
            "media_id",
            "media_mime_type",
            "media_filename",
            "media_sha256",
            "media_status",
            "media_error",
            "media_url",
            "sent_by_id",
            "timestamp",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_media_url(self, message: Message) -> str | None:
        if message.media_status != MediaStatus.DOWNLOADED or not message.media_file:
            return None
        # Served by our own authenticated view, not MEDIA_URL: customers' files stay behind the tenant's auth.
        path = reverse("api-message-media", kwargs={"pk": message.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path
