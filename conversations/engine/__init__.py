"""The conversation engine: every inbound customer message of a tenant goes through it.

``services.engine_handle_inbound`` decides and acts (opt-out, human takeover, bot switches,
working hours, rules and flows, then the AI assistant, then the fallback); ``bots`` holds the
bots and their schedules, ``hours`` the working-hours arithmetic, ``handoff`` the human
takeover. It runs from the ``message.received`` event (``listeners``) in a Celery task
(``tasks``). Models: ``conversations/models/engine.py``.
"""
