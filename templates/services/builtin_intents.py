"""Built-in intents: greeting, pricing, demo, support, opt-out, opt-in and bye.

Each is a ``FlowRule`` with ``builtin_intent`` set and a text reply template, on by
default and editable (or deactivatable) per tenant like any rule. The engine recognises
them by ``decision.rule.builtin_intent`` and implements the semantics (opt-out marks the
contact, support hands over); this module only provides the data.

Seeded by ``builtin_intents_ensure()``: automatically for every new tenant (a
``post_schema_sync`` hook in ``templates.apps``), and safe to call again at any time, e.g.
lazily from the engine or with ``manage.py all_tenants_command builtin_intents_ensure``
for tenants created before this existed.

Priorities: opt-out and opt-in run first (10, 20) so "STOP" always wins; new tenant rules
default to 100; the other intents come last (500+), most specific first and greeting
last, so "hi, what's the price?" gets the pricing answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from templates.choices import BuiltinIntent, FlowAction, MatchType, TemplateKind
from templates.models import FlowRule, FlowSettings, MessageTemplate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltinIntentSpec:
    intent: str
    priority: int
    match_type: str
    keywords: str
    action: str
    reply: str
    variables: dict


BUILTIN_INTENTS: tuple[BuiltinIntentSpec, ...] = (
    BuiltinIntentSpec(
        BuiltinIntent.OPT_OUT,
        10,
        MatchType.EQUALS,
        # Whole-message matches only: "stop" inside a sentence ("bus stop") must not unsubscribe.
        "stop, unsubscribe, opt out, optout, stop all, stop messages",
        FlowAction.SEND_TEMPLATE,
        "You have been unsubscribed and will not get more messages from us. Reply START to subscribe again.",
        {},
    ),
    BuiltinIntentSpec(
        BuiltinIntent.OPT_IN,
        20,
        MatchType.EQUALS,
        "start, subscribe, opt in, optin, unstop",
        FlowAction.SEND_TEMPLATE,
        "Welcome back! You will get our messages again. Reply STOP at any time to unsubscribe.",
        {},
    ),
    BuiltinIntentSpec(
        BuiltinIntent.PRICING,
        500,
        MatchType.CONTAINS,
        "price, prices, pricing, cost, costs, how much, rate, rates, fee, fees, charges, quote",
        FlowAction.SEND_TEMPLATE,
        "Thanks for asking about our prices, {{first_name}}! Tell us what you are looking for and "
        "we will send you the details.",
        {"first_name": {"source": "", "fallback": "there"}},
    ),
    BuiltinIntentSpec(
        BuiltinIntent.DEMO,
        510,
        MatchType.CONTAINS,
        "demo, demonstration, trial, book a call, schedule a call, appointment",
        FlowAction.SEND_TEMPLATE,
        "We would love to show you around, {{first_name}}! Which day and time suit you best?",
        {"first_name": {"source": "", "fallback": "there"}},
    ),
    BuiltinIntentSpec(
        BuiltinIntent.SUPPORT,
        520,
        MatchType.CONTAINS,
        "help, support, problem, issue, complaint, not working, agent, human, talk to someone",
        FlowAction.HANDOFF,
        "Sorry to hear you need help, {{first_name}}. A member of our team will reply here shortly.",
        {"first_name": {"source": "", "fallback": "there"}},
    ),
    BuiltinIntentSpec(
        BuiltinIntent.BYE,
        530,
        MatchType.CONTAINS,
        "bye, goodbye, good bye, bye bye, see you, good night, tata, alvida",
        FlowAction.SEND_TEMPLATE,
        "Thank you for chatting with us, {{first_name}}! Message us any time.",
        {"first_name": {"source": "", "fallback": "there"}},
    ),
    BuiltinIntentSpec(
        BuiltinIntent.GREETING,
        540,
        MatchType.CONTAINS,
        "hi, hii, hello, hey, hola, namaste, namaskar, good morning, good afternoon, good evening",
        FlowAction.SEND_TEMPLATE,
        "Hi {{first_name}}! 👋 Thanks for messaging us. How can we help you today?",
        {"first_name": {"source": "", "fallback": "there"}},
    ),
)


@transaction.atomic
def builtin_intents_ensure() -> list[FlowRule]:
    """Create the built-in intent rules and reply templates this tenant does not have yet.

    Idempotent and concurrency-safe (holds the FlowSettings row lock): each intent is
    created once per tenant, ever. An intent the tenant deleted is not recreated
    (``FlowSettings.builtin_intents_seeded`` remembers it); one added to
    ``BUILTIN_INTENTS`` later is seeded on the next call. Returns the rules created.
    Call inside the tenant's schema.
    """
    settings, _ = FlowSettings.objects.get_or_create(pk=FlowSettings.SINGLETON_PK)
    settings = FlowSettings.objects.select_for_update().get(pk=settings.pk)
    seeded = set(settings.builtin_intents_seeded or [])
    existing = set(FlowRule.objects.exclude(builtin_intent="").values_list("builtin_intent", flat=True))
    created: list[FlowRule] = []
    for spec in BUILTIN_INTENTS:
        if spec.intent in seeded or spec.intent in existing:
            seeded.add(spec.intent)
            continue
        label = BuiltinIntent(spec.intent).label
        template = MessageTemplate.objects.create(
            name=f"{label} reply",
            kind=TemplateKind.TEXT,
            body=spec.reply,
            variables=spec.variables,
            description=f"Built-in reply for the {label.lower()} intent; edit freely.",
        )
        created.append(
            FlowRule.objects.create(
                name=f"Built-in: {label}",
                priority=spec.priority,
                match_type=spec.match_type,
                pattern=spec.keywords,
                action=spec.action,
                template=template,
                builtin_intent=spec.intent,
            )
        )
        seeded.add(spec.intent)
    if seeded != set(settings.builtin_intents_seeded or []):
        settings.builtin_intents_seeded = sorted(seeded)
        settings.save(update_fields=["builtin_intents_seeded", "updated_at"])
    return created


def builtin_intents_ensure_for_new_tenant(sender, tenant, **kwargs) -> None:
    """``post_schema_sync`` receiver: seed a tenant right after its schema is created.

    A failure is logged, not raised: it would otherwise undo the whole onboarding, and
    the intents can be seeded later (the engine or the management command).
    """
    from django_tenants.utils import get_public_schema_name, tenant_context

    if tenant.schema_name == get_public_schema_name():
        return
    try:
        with tenant_context(tenant), transaction.atomic():
            builtin_intents_ensure()
    except Exception:
        logger.exception("seeding built-in intents failed for %s", tenant.schema_name)
