"""The team of a tenant: roles (owner/agent), invitations, deactivation.

A TENANT app (its tables live in each tenant's schema, next to that tenant's users) inside
the ``tenants`` package: ``tenants`` itself is a SHARED app (public schema), and the layering
(tenants <- templates <- conversations <- …) lets the settings pages in ``tenants`` use only
modules of ``tenants`` and the kernel, so the invitation model cannot live in a higher app.
"""
