"""Sign-up's pages on a tenant's host (included by bizmitra.urls_tenant)."""

from django.urls import path

from tenants.signup import views

urlpatterns = [
    path("welcome/", views.welcome, name="welcome"),
    path("welcome/signin/", views.handoff_signin, name="welcome-signin"),
    path("welcome/resend/", views.welcome_resend, name="welcome-resend"),
    path("welcome/google/", views.welcome_google, name="welcome-google"),
    path("signup/verify/<str:token>/", views.signup_verify, name="signup-verify-tenant"),
]
