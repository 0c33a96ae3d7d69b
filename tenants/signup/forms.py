"""The sign-up form: shapes and sizes only; the rules (taken, reserved, weak) are the service's."""

from django import forms

from bizmitra.errors import ValidationFailed


class SignupForm(forms.Form):
    # Nothing required and no EmailField here: tenant_signup checks every field at once, so a
    # person sees all of their mistakes together, each next to its field.
    business_name = forms.CharField(max_length=200, required=False, label="Business name")
    slug = forms.CharField(max_length=30, required=False, label="Your address")
    email = forms.CharField(max_length=254, required=False, label="Your email")
    password = forms.CharField(max_length=128, required=False, strip=False, label="Password")

    def add_service_errors(self, error: ValidationFailed) -> None:
        """Show a service's per-field reasons next to their fields."""
        for field, reasons in error.fields.items():
            for reason in reasons:
                self.add_error(field if field in self.fields else None, reason)
        if not error.fields:
            self.add_error(None, error.message)


class GoogleEmailForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email")
