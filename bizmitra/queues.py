"""Celery queues by kind of work: one home for their names (settings, Procfile, tests, benches).

A reply must never wait behind other work (issue 9): webhook ingest, engine decisions,
outbound sends and OCR each get their own queue, and everything else (periodic sweeps,
workflows, leads, AI knowledge, media downloads) stays on the default queue. Every name
starts with the default queue's name, so parallel test runs, benches and deployments that
share one Redis never take each other's tasks.
"""

from __future__ import annotations

ROLES = ("ingest", "engine", "send", "documents")
# What the Procfile's "replies" worker consumes; the "background" worker takes the rest.
REPLY_ROLES = ("ingest", "engine", "send")
BACKGROUND_ROLES = ("default", "documents")


def queue_names(default_queue: str) -> dict[str, str]:
    """``{"default": default_queue, "ingest": f"{default_queue}.ingest", …}``."""
    return {"default": default_queue, **{role: f"{default_queue}.{role}" for role in ROLES}}


def queues_arg(default_queue: str, roles=None) -> str:
    """The ``celery worker -Q`` value for ``roles`` (default: every queue)."""
    names = queue_names(default_queue)
    return ",".join(names[role] for role in (roles or names))


def task_routes(default_queue: str) -> dict[str, dict[str, str]]:
    names = queue_names(default_queue)
    return {
        "conversations.whatsapp.tasks.webhook_process*": {"queue": names["ingest"]},
        "conversations.engine.tasks.engine_handle_*": {"queue": names["engine"]},
        "conversations.tasks.outbound.message_send_task": {"queue": names["send"]},
        "conversations.tasks.outbound.message_mark_read_task": {"queue": names["send"]},
        "documents.*": {"queue": names["documents"]},
    }


def kombu_queues(default_queue: str) -> list:
    """Every queue, declared the way Celery declares a queue named in a route (a direct
    exchange of the same name): a worker started without ``-Q`` consumes them all."""
    from kombu import Exchange, Queue

    return [
        Queue(name, Exchange(name, type="direct"), routing_key=name) for name in queue_names(default_queue).values()
    ]
