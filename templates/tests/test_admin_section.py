"""The tenant admin lists "Message templates and flows" as a usable section (home page and sidebar).

django-tenants' admin templates grey out every app whose label is not among TENANT_APPS'
labels ("Not available for this type of schema"); this app's label is message_templates.
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from tests.tenancy import tenant_client

UNAVAILABLE = "Not available for this type of schema"
SECTION_LINK = '<a href="/admin/message_templates/" class="section"'


@pytest.fixture
def builder(in_alpha, alpha):
    """A staff member (not an owner) allowed to work on templates and flow rules."""
    user = get_user_model().objects.create_user("builder@alpha.test", "builder@alpha.test", "builder-pass")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="message_templates"))
    client = Client(HTTP_HOST=alpha.domain.domain)
    assert client.post("/login/", {"username": "builder@alpha.test", "password": "builder-pass"}).status_code == 302
    return client


@pytest.mark.parametrize("who", ["owner", "builder"])
def test_the_admin_home_and_sidebar_offer_templates_and_flows(in_alpha, alpha, builder, who):
    client = tenant_client(alpha, login=True) if who == "owner" else builder
    for page in ("/admin/", "/admin/message_templates/messagetemplate/"):
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert UNAVAILABLE not in html, page
        assert SECTION_LINK in html, page
        assert 'href="/admin/message_templates/flowrule/"' in html, page
