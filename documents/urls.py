from django.urls import path

from documents import views

urlpatterns = [
    path("files/<str:token>", views.media_file, name="media-file"),
    path("documents/", views.documents_page, name="dashboard-documents"),
    path("documents/<int:document_id>/", views.document_page, name="dashboard-document"),
    path("documents/<int:document_id>/fields/", views.document_field_correct_view, name="dashboard-document-correct"),
    path("documents/for-message/<int:message_id>/", views.document_inline, name="dashboard-document-inline"),
    path("documents/<int:document_id>/review/", views.document_review_view, name="dashboard-document-review"),
]
