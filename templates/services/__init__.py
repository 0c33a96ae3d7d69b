"""Writes (and the engine-facing flow decisions) of message templates and flows.

The conversation engine's entry points, all called inside the tenant's schema:

- ``flow_match(*, text, payload_id, state, bot) -> FlowDecision`` — what an inbound message triggers
  for the conversation's bot (its own and tenant-wide rules; reads only)
- ``builtin_intents_ensure()`` — seed the built-in intent rules (idempotent)
- ``meta_templates_sync()`` — pull Meta-approved templates from WhatsApp
- ``template_sync_start()`` / ``template_sync_run()`` — the same as a job the settings page watches
- ``templates.rendering.render_template(template, context)`` / ``render_context(...)`` — the message to send
"""

from templates.services.builtin_intents import BUILTIN_INTENTS, builtin_intents_ensure
from templates.services.flow import FlowDecision, FlowState, flow_match
from templates.services.meta_sync import MetaSyncFailed, MetaSyncResult, meta_templates_sync
from templates.services.send_test import SendingUnavailable, template_send_test
from templates.services.sync_jobs import template_sync_run, template_sync_start
from templates.services.templates import (
    flow_rule_create,
    flow_rule_update,
    flow_settings_ensure,
    flow_settings_update,
    template_create,
    template_update,
)

__all__ = [
    "BUILTIN_INTENTS",
    "FlowDecision",
    "FlowState",
    "MetaSyncFailed",
    "MetaSyncResult",
    "SendingUnavailable",
    "builtin_intents_ensure",
    "flow_match",
    "flow_rule_create",
    "flow_rule_update",
    "flow_settings_ensure",
    "flow_settings_update",
    "meta_templates_sync",
    "template_create",
    "template_send_test",
    "template_sync_run",
    "template_sync_start",
    "template_update",
]
