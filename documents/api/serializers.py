from rest_framework import serializers

from bizmitra.storage import media_link
from documents.models import Document, DocumentField
from documents.selectors import document_key_fields
from documents.services import CORRECTABLE_FIELDS


class DocumentFieldOutputSerializer(serializers.ModelSerializer):
    # None when an API key (no person) or nobody corrected it.
    corrected_by = serializers.CharField(
        source="corrected_by.get_username", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = DocumentField
        fields = [
            "id",
            "name",
            "value",
            "original_value",
            "confidence",
            "page",
            "snippet",
            "valid",
            "corrected_by",
            "corrected_at",
        ]


class _Links(serializers.Serializer):
    file = serializers.CharField()
    thumbnail = serializers.CharField(allow_null=True)


def _links(document: Document, request) -> dict:
    def absolute(path: str) -> str:
        return request.build_absolute_uri(path) if request is not None else path

    return {
        "file": absolute(media_link(name=document.file.name, download_name=document.filename)),
        "thumbnail": absolute(media_link(name=document.thumbnail.name)) if document.thumbnail else None,
    }


class DocumentListOutputSerializer(serializers.ModelSerializer):
    key_fields = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = [
            "id",
            "source",
            "kind",
            "status",
            "validation",
            "contact",
            "message",
            "filename",
            "mime_type",
            "size",
            "pages_total",
            "pages_done",
            "failure_reason",
            "key_fields",
            "links",
            "reviewed_at",
            "created_at",
            "processed_at",
        ]

    def get_key_fields(self, document: Document) -> dict[str, str]:
        return document_key_fields(document)

    def get_links(self, document: Document) -> dict:
        return _links(document, self.context.get("request"))


class DocumentDetailOutputSerializer(DocumentListOutputSerializer):
    """``fields_`` goes out as ``fields`` (``Serializer.fields`` is taken); the schema says so
    too (``documents.api.schema``)."""

    fields_ = DocumentFieldOutputSerializer(source="fields", many=True, read_only=True)
    reviewed_by = serializers.CharField(
        source="reviewed_by.get_username", default=None, read_only=True, allow_null=True
    )

    class Meta(DocumentListOutputSerializer.Meta):
        fields = DocumentListOutputSerializer.Meta.fields + [
            "fields_",
            "text",
            "pages",
            "validation_reasons",
            "sha256",
            "reviewed_by",
            "acknowledged_at",
            "attempts",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["fields"] = data.pop("fields_")
        return data


class DocumentUploadInputSerializer(serializers.Serializer):
    file = serializers.FileField()
    contact = serializers.IntegerField(required=False, min_value=1)


class FieldCorrectInputSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=CORRECTABLE_FIELDS)
    value = serializers.CharField(max_length=255)
