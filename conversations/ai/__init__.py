"""The AI assistant that answers when no rule or flow matched.

Engine-facing API (call inside the tenant's schema):

- ``conversations.ai.services.assistant_reply(*, conversation, inbound_message) -> AssistantReply``
- ``conversations.ai.memory.memory_append(*, schema_name, contact_id, role, content)``

Modules: ``client`` (the OpenAI-compatible endpoint), ``tools`` (schemas, validation,
execution), ``memory`` (last messages in Redis), ``budgets`` (daily tokens, per-contact
hourly calls), ``knowledge`` (website → text), ``services`` (the assistant loop and settings
writes), ``selectors``, ``tasks``, ``admin`` and the API (``views``/``serializers``/``urls``).
The models live in ``conversations/models/ai.py``.
"""
