"""Cost control: a daily token budget per tenant and a per-contact hourly cap on AI calls.

Both are Redis counters with an expiry, shared by every worker:

- tokens: ``ai:tokens:<schema>:<YYYY-MM-DD>`` (the tenant's local date), increased by
  each response's usage right after it arrives. The budget is checked before a call, so
  calls already in flight when it runs out may overshoot it by their own size.
- calls: ``ai:calls:<schema>:<contact id>``, one count per AI answer attempt, in a
  window that starts at the contact's first call and lasts an hour (the key's expiry).
"""

from __future__ import annotations

from datetime import datetime

from conversations.ai.store import ai_key, redis_client
from tenants.selectors import tenant_timezone

HOURLY_WINDOW_SECONDS = 3600
# Kept a little past midnight so a late reader of yesterday's figure still finds it.
TOKEN_KEY_TTL_SECONDS = 2 * 24 * 3600

# KEYS[1]: the contact's counter. ARGV[1]: window length (s). The window starts with the
# first call: the expiry is set only when the counter is created (or has lost its TTL).
_TAKE_CALL = """
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return n
"""


def tenant_today(*, schema_name: str) -> str:
    """Today's date in the tenant's time zone (``Tenant.timezone``), as ``YYYY-MM-DD``."""
    return datetime.now(tenant_timezone(schema_name=schema_name)).date().isoformat()


def tokens_key(*, schema_name: str, day: str | None = None) -> str:
    return ai_key("tokens", schema_name, day or tenant_today(schema_name=schema_name))


def tokens_used_today(*, schema_name: str) -> int:
    return int(redis_client().get(tokens_key(schema_name=schema_name)) or 0)


def tokens_record(*, schema_name: str, tokens: int) -> int:
    """Add ``tokens`` to today's total; returns the new total."""
    key = tokens_key(schema_name=schema_name)
    pipe = redis_client().pipeline(transaction=True)
    pipe.incrby(key, max(int(tokens), 0))
    pipe.expire(key, TOKEN_KEY_TTL_SECONDS)
    total, _ = pipe.execute()
    return int(total)


def contact_calls_key(*, schema_name: str, contact_id: int) -> str:
    return ai_key("calls", schema_name, contact_id)


def contact_call_take(*, schema_name: str, contact_id: int, cap: int) -> bool:
    """Count one AI call for the contact; False when that goes over ``cap`` this hour."""
    count = redis_client().eval(
        _TAKE_CALL, 1, contact_calls_key(schema_name=schema_name, contact_id=contact_id), HOURLY_WINDOW_SECONDS
    )
    return int(count) <= cap
