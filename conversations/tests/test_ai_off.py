"""No AI endpoint configured (no key, OpenAI's base URL): AI is off, said where staff look, never called."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import get_messages
from django.template.loader import render_to_string
from django.test import RequestFactory
from django_tenants.utils import schema_context

from conversations.ai.selectors import AI_OFF_MESSAGE, ai_endpoint_configured
from conversations.ai.services import ai_settings_update, assistant_reply
from conversations.models import AIAssistantSettings, AICallLog
from conversations.tests.ai_support import ai_redis_clear, conversation_make, message_add
from tests.tenancy import tenant_client

OPENAI = "https://api.openai.com/v1"


@pytest.fixture
def no_endpoint(settings):
    settings.OPENAI_BASE_URL = OPENAI
    settings.OPENAI_API_KEY = ""
    return settings


@pytest.fixture(autouse=True)
def _clean_ai_redis():
    ai_redis_clear()
    yield
    ai_redis_clear()


@pytest.mark.parametrize(
    ("base_url", "platform_key", "tenant_key", "configured"),
    [
        (OPENAI, "", "", False),
        ("https://API.openai.com/v1/", "", "", False),
        (OPENAI, "sk-platform", "", True),
        (OPENAI, "", "sk-tenant", True),
        ("http://127.0.0.1:11434/v1", "", "", True),  # a local server (Ollama, llama.cpp, vLLM…) needs no key
        ("https://gateway.example/v1", "", "", True),
    ],
)
def test_what_counts_as_a_configured_endpoint(settings, base_url, platform_key, tenant_key, configured):
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = base_url, platform_key
    assert ai_endpoint_configured(config=AIAssistantSettings(api_key=tenant_key)) is configured


def test_the_agent_makes_no_call_and_says_ai_is_off(in_alpha, no_endpoint):
    conversation = conversation_make()
    inbound = message_add(conversation, "Do you open on Sundays?")

    reply = assistant_reply(conversation=conversation, inbound_message=inbound)

    # Without the check this tried api.openai.com and ended in ai_error (APIConnectionError).
    assert (reply.kind, reply.reason) == ("fallback", "ai_off_no_endpoint")
    (log,) = AICallLog.objects.all()
    assert (log.outcome, log.reason, log.rounds, log.latency_ms, log.prompt_tokens) == (
        "fallback",
        "ai_off_no_endpoint",
        0,
        0,
        0,
    )
    assert log.detail == AI_OFF_MESSAGE


def banner(user) -> str:
    """The partial as every dashboard page includes it (layout/base.html), for ``user`` in Alpha."""
    request = RequestFactory().get("/", HTTP_HOST="alpha.test")
    request.user = user
    return render_to_string("conversations/_ai_off_banner.html", request=request)


def owner():
    return get_user_model().objects.get(email="owner@alpha.test")


def test_the_banner_says_ai_is_off_and_links_to_the_ai_settings(in_alpha, no_endpoint):
    html = banner(owner())
    assert AI_OFF_MESSAGE in html and 'role="status"' in html
    assert 'href="/admin/conversations/aiassistantsettings/"' in html


def test_agents_see_the_banner_without_a_link_they_could_not_use(in_alpha, no_endpoint):
    agent = get_user_model().objects.create_user("agent@alpha.test", "agent@alpha.test", "agent-pass", is_staff=True)
    html = banner(agent)
    assert AI_OFF_MESSAGE in html and "an owner" in html
    assert "/admin/conversations/aiassistantsettings/" not in html


@pytest.mark.parametrize("how", ["platform key", "local base url", "tenant key", "switched off"])
def test_no_banner_when_ai_can_work_or_was_switched_off(in_alpha, no_endpoint, how):
    if how == "platform key":
        no_endpoint.OPENAI_API_KEY = "sk-platform"
    elif how == "local base url":
        no_endpoint.OPENAI_BASE_URL = "http://127.0.0.1:8080/v1"
    else:
        ai_settings_update(**({"api_key": "sk-tenant"} if how == "tenant key" else {"enabled": False}))
    assert banner(owner()).strip() == ""


def test_no_banner_for_signed_out_visitors_or_on_the_platform_host(alpha, db, no_endpoint):
    with schema_context("alpha"):
        assert banner(AnonymousUser()).strip() == ""
    # Public schema: no tenant tables to read; the partial stays empty instead of failing.
    assert banner(get_user_model()(username="staff", is_staff=True)).strip() == ""


def test_the_dashboard_layout_includes_the_banner():
    # The other half of the contract: every dashboard page extends layout/base.html.
    source = (Path(settings.BASE_DIR) / "bizmitra" / "html" / "layout" / "base.html").read_text()
    assert '{% include "conversations/_ai_off_banner.html" %}' in source


def test_the_ai_settings_page_says_it_too(alpha, db, no_endpoint):
    client = tenant_client(alpha, login=True)
    page = client.get("/admin/conversations/aiassistantsettings/", follow=True)
    assert page.status_code == 200
    assert any(AI_OFF_MESSAGE in str(m) for m in get_messages(page.wsgi_request))
    assert AI_OFF_MESSAGE in page.content.decode()


def test_the_ai_settings_api_says_whether_an_endpoint_is_configured(alpha, db, no_endpoint):
    client = tenant_client(alpha, login=True)
    assert client.get("/api/ai/settings").json()["endpoint_configured"] is False
    no_endpoint.OPENAI_BASE_URL = "http://127.0.0.1:11434/v1"
    assert client.get("/api/ai/settings").json()["endpoint_configured"] is True
