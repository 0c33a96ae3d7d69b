"""Writes of the conversations app, one module per subdomain:
inbound (webhook ingest), statuses (delivery states), outbound (the send queue)."""
