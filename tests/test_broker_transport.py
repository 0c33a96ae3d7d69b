"""The broker transport survives a Redis restart under load (bizmitra/broker.py, issue 13 §1)."""

import subprocess

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.transport import redis as kombu_redis

from bizmitra import broker
from tests.support import free_port, wait_for_port


@pytest.fixture
def own_redis():
    """A Redis of this test's own, so it can be killed (it keeps nothing on disk)."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    wait_for_port(port)
    yield f"redis://127.0.0.1:{port}/0", proc
    proc.kill()
    proc.wait()


def _holding_an_unacked_task(url: str, transport) -> Connection:
    """A connection whose default channel was handed a message it has not acknowledged (a
    worker's prefetched or running task, with acks_late)."""
    connection = Connection(url, transport=transport)
    channel = connection.default_channel
    queue = Queue("tasks", Exchange("tasks"), "tasks")
    Producer(channel).publish({"task": "x"}, exchange=queue.exchange, routing_key="tasks", declare=[queue])
    delivered = []
    Consumer(channel, [queue], callbacks=[lambda body, message: delivered.append(message)]).consume()
    connection.drain_events(timeout=5)
    assert len(delivered) == 1 and len(channel.qos._delivered) == 1
    return connection


def _lose_the_broker_as_celery_does(connection: Connection, redis_proc) -> None:
    """Redis dies; Celery's consumer collects the broken connection, then closes it.

    ``collect`` lets the transport go (``client`` = None) but, with Redis gone in the middle of
    the channel's BRPOP, could not close the default channel: that state is set here directly.
    """
    redis_proc.kill()
    redis_proc.wait()
    connection._do_close_transport()
    connection.close()


def test_the_settings_use_this_transport_for_a_redis_broker(settings):
    from bizmitra.celery import app

    assert settings.CELERY_BROKER_URL.startswith("redis://")
    with app.connection_for_read() as connection:
        assert isinstance(connection.transport, broker.Transport)


def test_closing_a_released_connection_with_unacked_tasks_does_not_crash(own_redis):
    url, proc = own_redis
    connection = _holding_an_unacked_task(url, broker.Transport)
    channel = connection.default_channel
    _lose_the_broker_as_celery_does(connection, proc)
    assert channel.closed


def test_kombus_own_transport_still_crashes_there(own_redis):
    """Why bizmitra.broker exists: if this fails, kombu fixed it and bizmitra.broker can go."""
    url, proc = own_redis
    connection = _holding_an_unacked_task(url, kombu_redis.Transport)
    qos = connection.default_channel.qos
    with pytest.raises(AttributeError, match="hostname"):
        _lose_the_broker_as_celery_does(connection, proc)
    qos._on_collect.cancel()  # else it fails once more at this process's exit
