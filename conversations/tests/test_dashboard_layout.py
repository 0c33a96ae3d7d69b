"""The dashboard's base layout: navigation by role, coming-soon pages, static assets."""

import pytest

from tests.tenancy import tenant_client


@pytest.mark.django_db
def test_layout_shows_every_section_to_the_owner(alpha):
    page = tenant_client(alpha, login=True).get("/").content.decode()
    for label in ("Inbox", "Leads", "Analytics", "Settings", "Simulator", "Admin"):
        assert f"<span>{label}</span>" in page
    assert 'href="/" aria-current="page"' in page
    assert "htmx-2.0.11.min.js" in page


@pytest.mark.django_db
def test_coming_soon_page_for_unbuilt_sections(alpha):
    client = tenant_client(alpha, login=True)
    response = client.get("/soon/leads/")
    assert response.status_code == 200
    assert "Leads is on its way" in response.content.decode()
    assert client.get("/soon/nothing/").status_code == 404


@pytest.mark.django_db
def test_login_page_renders_the_design_system(alpha):
    response = tenant_client(alpha).get("/login/")
    assert response.status_code == 200
    assert 'class="card auth__card"' in response.content.decode()
