from django.urls import path

from documents import views

urlpatterns = [
    path("files/<str:token>", views.media_file, name="media-file"),
]
