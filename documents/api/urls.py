from django.urls import path

from documents.api import views

urlpatterns = [
    path("documents/", views.DocumentListCreateApi.as_view(), name="documents-list"),
    path("documents/<int:document_id>/", views.DocumentDetailApi.as_view(), name="documents-detail"),
    path("documents/<int:document_id>/reprocess/", views.DocumentReprocessApi.as_view(), name="documents-reprocess"),
    path("documents/<int:document_id>/fields/", views.DocumentFieldCorrectApi.as_view(), name="documents-correct"),
    path("documents/<int:document_id>/review/", views.DocumentReviewApi.as_view(), name="documents-review"),
]
