"""Celery queues by kind of work: one home for their names (settings, Procfile, tests, benches).

A reply must never wait behind other work (issue 9): webhook ingest, engine decisions,
outbound sends and OCR each get their own queue, and everything else (periodic sweeps,
workflows, leads, AI knowledge, media downloads) stays on the default queue. Every name
starts with the default queue's name, so parallel test runs, benches and deployments that
share one Redis never take each other's tasks.
"""

from __future__ import annotations

import os
import threading

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


# kombu's Redis transport keeps a queue's tasks of priority 0 in the list named after the
# queue and those of priorities 3, 6 and 9 in lists with this separator and the step.
_PRIORITY_STEPS = (0, 3, 6, 9)
_PRIORITY_SEP = "\x06\x16"


def queue_depths(queues: dict[str, str], *, broker_url: str | None = None) -> dict[str, int]:
    """Tasks waiting in each of ``queues`` (``{role: queue name}``), by role: the broker's
    Redis list lengths, in one round trip. Tasks a worker has taken but not finished are not
    counted. Raises ``redis.RedisError`` when the broker does not answer."""
    from django.conf import settings

    client = _broker_client(broker_url or settings.CELERY_BROKER_URL)
    pipe = client.pipeline(transaction=False)
    for name in queues.values():
        for step in _PRIORITY_STEPS:
            pipe.llen(name if step == 0 else f"{name}{_PRIORITY_SEP}{step}")
    lengths = pipe.execute()
    per_queue = len(_PRIORITY_STEPS)
    return {role: sum(lengths[index * per_queue : (index + 1) * per_queue]) for index, role in enumerate(queues)}


def queue_busy(role: str) -> bool:
    """Whether the queue of ``role`` holds at least ``SWEEP_HOLD_QUEUED_TASKS`` tasks: a sweep
    then leaves what is owed to the work already queued (it is merely waiting, and what the
    broker lost is found once the queue runs down). Not busy when the broker does not answer:
    the sweep then tries, and the sweeps after it."""
    import redis
    from django.conf import settings

    try:
        depth = queue_depths({role: settings.CELERY_QUEUES_BY_ROLE[role]})[role]
    except redis.RedisError:
        return False
    return depth >= settings.SWEEP_HOLD_QUEUED_TASKS


_broker_clients: dict[tuple[int, str], object] = {}
_broker_lock = threading.Lock()


def _broker_client(url: str):
    import redis

    key = (os.getpid(), url)  # per process: a pool inherited through fork is not ours
    with _broker_lock:
        client = _broker_clients.get(key)
        if client is None:
            client = _broker_clients[key] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        return client
