"""Sign-up on the platform host (included by bizmitra.urls_public)."""

from django.urls import path

from tenants.signup import views

urlpatterns = [
    path("signup/", views.signup_page, name="signup"),
    path("signup/verify/<str:token>/", views.signup_verify, name="signup-verify"),
    path("signin/", views.signin_page, name="signin"),
    path("auth/google/", views.google_start, name="signup-google"),
    path("auth/google/callback/", views.google_callback, name="signup-google-callback"),
    path("auth/google/choose/", views.google_choose, name="signup-google-choose"),
]
