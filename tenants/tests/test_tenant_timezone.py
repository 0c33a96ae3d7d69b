"""The tenant's time zone is read the same way under schema_context() as in a request."""

from django_tenants.utils import schema_context

from tenants.models import Tenant
from tenants.selectors import tenant_timezone_name


def test_schema_context_reads_the_tenants_own_zone(alpha, db):
    Tenant.objects.filter(pk=alpha.tenant.pk).update(timezone="Asia/Kolkata")
    with schema_context(alpha.tenant.schema_name):
        assert tenant_timezone_name() == "Asia/Kolkata"
