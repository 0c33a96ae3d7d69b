"""ConversationState: where a contact is in the flows, written by one upsert
(``conversation_state_advance``) and read by ``conversation_state_get`` (alpha's schema)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.engine.flow_state import conversation_state_advance, conversation_state_get
from conversations.models import Contact, ConversationState
from conversations.tests.engine_support import unique_wa_id
from templates.tests.factories import builtin_rules_off, text_template
from tests.tenancy import tenant_client


@pytest.fixture
def answer(in_alpha):
    builtin_rules_off()
    return text_template(name="Answer")


@pytest.fixture
def person(in_alpha):
    return Contact.objects.create(wa_id=unique_wa_id())


def test_advance_creates_then_updates_one_row(answer, person):
    assert conversation_state_get(contact=person) is None
    first = conversation_state_advance(contact=person, template=answer, state="start")
    second = conversation_state_advance(contact=person, state="next")
    assert first.pk == second.pk and ConversationState.objects.filter(contact=person).count() == 1
    second.refresh_from_db()
    assert (second.last_template, second.state) == (answer, "next")
    conversation_state_advance(contact=person, template=None, state="")
    current = conversation_state_get(contact=person)
    assert (current.last_template, current.state) == (answer, "")


def test_advance_is_one_statement(answer, person):
    # The engine's query count (test_engine_queries) counts on it.
    conversation_state_advance(contact=person, state="first")
    with CaptureQueriesContext(connection) as queries:
        conversation_state_advance(contact=person, template=answer, state="again")
    assert len(queries) == 1 and "ON CONFLICT" in queries[0]["sql"]


def test_deleting_the_last_template_keeps_the_state(answer, person):
    conversation_state_advance(contact=person, template=answer, state="s")
    answer.delete()
    state = ConversationState.objects.get(contact=person)
    assert (state.last_template, state.state) == (None, "s")


def test_the_state_is_the_contacts_flow_state_and_lives_in_conversations(answer, person):
    conversation_state_advance(contact=person, state="s")
    assert Contact.objects.select_related("flow_state").get(pk=person.pk).flow_state.state == "s"
    assert ConversationState._meta.db_table == "conversations_conversationstate"


def test_admin_lists_flow_states_read_only(answer, person, alpha):
    conversation_state_advance(contact=person, template=answer, state="waiting")
    owner = tenant_client(alpha, login=True)
    page = owner.get("/admin/conversations/conversationstate/")
    assert page.status_code == 200 and "waiting" in page.content.decode()
    assert owner.get("/admin/conversations/conversationstate/add/").status_code == 403
