"""Staff switch the inbox's read receipts on open in the tenant admin (one row per tenant)."""

from django_tenants.utils import schema_context

from conversations.models import InboxSettings
from tests.tenancy import tenant_client


def test_the_inbox_settings_page_opens_on_the_one_row_and_saves(alpha, db):
    client = tenant_client(alpha, login=True)
    listing = client.get("/admin/conversations/inboxsettings/")
    assert listing.status_code == 302
    form = client.get(listing["Location"])
    assert form.status_code == 200 and "Mark read on open" in form.content.decode()
    saved = client.post(listing["Location"], {"typing_indicator": "on"})
    assert saved.status_code == 302
    with schema_context(alpha.tenant.schema_name):
        row = InboxSettings.objects.get()
        assert (row.mark_read_on_open, row.typing_indicator) == (False, True)
