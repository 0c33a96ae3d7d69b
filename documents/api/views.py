"""Documents API (tenant domain; API key, JWT or session). Thin views over services and selectors."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from bizmitra.errors import ValidationFailed
from documents import selectors, services
from documents.api import schema as _schema  # noqa: F401 - registers the detail's schema extension
from documents.api import serializers as s
from documents.filters import DocumentFilter
from documents.models import Document


def _person(request):
    """The signed-in person, or None for an API key (a server, not a user row)."""
    return request.user if getattr(request.user, "pk", None) else None


class DocumentPagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise ValidationFailed("Invalid input.", fields=serializer.errors)
    return serializer.validated_data


class DocumentListCreateApi(GenericAPIView):
    queryset = Document.objects.none()
    filterset_class = DocumentFilter
    serializer_class = s.DocumentListOutputSerializer
    pagination_class = DocumentPagination
    parser_classes = [MultiPartParser, FormParser]

    # A list, paginated: drf-spectacular cannot tell from a plain GenericAPIView.get.
    @extend_schema(operation_id="documents_list", responses=s.DocumentListOutputSerializer(many=True))
    def get(self, request):
        filterset = DocumentFilter(request.query_params, queryset=selectors.document_list(user=request.user))
        if not filterset.is_valid():
            raise ValidationFailed("Invalid filter.", fields=filterset.errors)
        page = self.paginate_queryset(filterset.qs)
        return self.get_paginated_response(
            s.DocumentListOutputSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(request=s.DocumentUploadInputSerializer, responses={201: s.DocumentDetailOutputSerializer})
    def post(self, request):
        data = _validated(s.DocumentUploadInputSerializer, request.data)
        document = services.document_create_from_upload(
            upload=data["file"], uploaded_by=_person(request), contact_id=data.get("contact")
        )
        document = selectors.document_get(user=request.user, document_id=document.pk)
        return Response(
            s.DocumentDetailOutputSerializer(document, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class DocumentDetailApi(APIView):
    @extend_schema(responses=s.DocumentDetailOutputSerializer)
    def get(self, request, document_id: int):
        document = selectors.document_get(user=request.user, document_id=document_id)
        return Response(s.DocumentDetailOutputSerializer(document, context={"request": request}).data)


class DocumentReprocessApi(APIView):
    @extend_schema(request=None, responses={202: s.DocumentDetailOutputSerializer})
    def post(self, request, document_id: int):
        document = services.document_reprocess(
            document=selectors.document_get(user=request.user, document_id=document_id)
        )
        document = selectors.document_get(user=request.user, document_id=document.pk)
        return Response(
            s.DocumentDetailOutputSerializer(document, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class DocumentFieldCorrectApi(APIView):
    @extend_schema(request=s.FieldCorrectInputSerializer, responses=s.DocumentFieldOutputSerializer)
    def post(self, request, document_id: int):
        data = _validated(s.FieldCorrectInputSerializer, request.data)
        field = services.document_field_correct(
            document=selectors.document_get(user=request.user, document_id=document_id),
            name=data["name"],
            value=data["value"],
            user=_person(request),
        )
        return Response(s.DocumentFieldOutputSerializer(field).data)


class DocumentReviewApi(APIView):
    @extend_schema(request=None, responses=s.DocumentDetailOutputSerializer)
    def post(self, request, document_id: int):
        document = services.document_mark_reviewed(
            document=selectors.document_get(user=request.user, document_id=document_id),
            user=_person(request),
        )
        document = selectors.document_get(user=request.user, document_id=document.pk)
        return Response(s.DocumentDetailOutputSerializer(document, context={"request": request}).data)
