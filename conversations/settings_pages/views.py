"""Settings pages and their htmx fragments (thin: parse, call one service, render).

A save answers the form card again: 200 with "Saved" when it worked, 422 with an inline
message next to each bad field, 409 when someone else changed the form since it was opened
(nothing saved). htmx swaps those statuses (see layout/base.html); without htmx the whole
page is rendered with the same messages.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bizmitra.errors import ApplicationError
from conversations.ai.client import AIError, AITimeout
from conversations.ai.knowledge import knowledge_fetch_start
from conversations.ai.services import assistant_prompt_try
from conversations.settings_pages import selectors, services
from conversations.settings_pages.access import owner_required
from tenants.selectors import tenant_timezone, tenant_timezone_name


def _page_or_fragment(request, page: str, fragment: str, context: dict, status: int = 200) -> HttpResponse:
    return render(request, fragment if request.htmx else page, context, status=status)


def _days(hours: selectors.BotHours, errors: dict) -> list[dict]:
    """The weekday rows of the working hours editor (``_hours_card.html``) with their messages."""
    return [
        {"value": value, "id": str(value), "label": label, "text": text, "errors": errors.get(f"hours_{value}", [])}
        for value, label, text in hours.days
    ]


def _hours_posted(post) -> dict:
    """The working hours editor's fields as the services take them."""
    return {
        "hours_enabled": post.get("hours_enabled") == "on",
        "away_message": post.get("away_message", ""),
        "hours": {weekday: post.get(f"hours_{weekday}", "") for weekday, _ in selectors.WEEKDAYS},
    }


def _hours_as_typed(hours: selectors.BotHours, posted: dict, version: str) -> selectors.BotHours:
    # What was typed, with the version the form was opened with: a stale form cannot be saved
    # blindly, the owner reloads to see the other change.
    hours.hours_enabled, hours.away_message = posted["hours_enabled"], posted["away_message"]
    hours.hours, hours.version = posted["hours"], version
    return hours


@owner_required
def settings_index(request: HttpRequest) -> HttpResponse:
    """``/settings/`` (the main nav's Settings link) opens the business profile."""
    return redirect("/settings/profile/")


@owner_required
@require_http_methods(["GET", "POST"])
def profile_page(request: HttpRequest) -> HttpResponse:
    context = {"timezones": selectors.timezone_choices(), "errors": {}, "saved": False}
    if request.method == "GET":
        context["profile"] = selectors.business_profile_get(user=request.user)
        context["days"] = _days(context["profile"].hours, {})
        return render(request, "conversations/settings/profile.html", context)
    post = request.POST
    posted = _hours_posted(post)
    try:
        context["profile"] = services.business_profile_save(
            user=request.user,
            version=post.get("version", ""),
            name=post.get("name", ""),
            timezone_name=post.get("timezone", ""),
            **posted,
        )
        context["saved"] = True
        status = 200
    except ApplicationError as exc:
        context["errors"] = exc.fields or {"form": [exc.message]}
        profile = selectors.business_profile_get(user=request.user)
        profile.name, profile.timezone = post.get("name", ""), post.get("timezone", "")
        profile.version = post.get("version", "")
        _hours_as_typed(profile.hours, posted, profile.version)
        context["profile"] = profile
        context["stale"] = exc.http_status == 409
        status = exc.http_status if 400 <= exc.http_status < 500 else 422
    context["days"] = _days(context["profile"].hours, context["errors"])
    return _page_or_fragment(
        request, "conversations/settings/profile.html", "conversations/settings/_profile_form.html", context, status
    )


def _errors_of(exc: ApplicationError) -> dict:
    return exc.fields or {"form": [exc.message]}


def _status_of(exc: ApplicationError) -> int:
    return exc.http_status if 400 <= exc.http_status < 500 else 422


@owner_required
@require_http_methods(["GET", "POST"])
def ai_page(request: HttpRequest) -> HttpResponse:
    context = {"errors": {}, "saved": False}
    status = 200
    if request.method == "POST":
        post = request.POST
        try:
            services.ai_settings_save(
                user=request.user,
                version=post.get("version", ""),
                enabled=post.get("enabled") == "on",
                model=post.get("model", ""),
                base_url=post.get("base_url", ""),
                api_key=post.get("api_key", ""),
                clear_api_key=post.get("clear_api_key") == "on",
                system_prompt=post.get("system_prompt", ""),
                daily_token_budget=post.get("daily_token_budget", ""),
                per_contact_hourly_cap=post.get("per_contact_hourly_cap", ""),
            )
            context["saved"] = True
        except ApplicationError as exc:
            context["errors"], status = _errors_of(exc), _status_of(exc)
    page = selectors.ai_page_get(user=request.user)
    if context["errors"]:
        # Show what was typed (never the key), with the version the form was opened with.
        post = request.POST
        page.enabled = post.get("enabled") == "on"
        for name in ("model", "base_url", "system_prompt", "daily_token_budget", "per_contact_hourly_cap"):
            setattr(page, name, post.get(name, ""))
        page.version = post.get("version", "")
    context["ai"] = page
    return _page_or_fragment(
        request, "conversations/settings/ai.html", "conversations/settings/_ai_form.html", context, status
    )


@owner_required
@require_POST
def ai_prompt_test(request: HttpRequest) -> HttpResponse:
    """The "test the prompt" box: the configured endpoint's answer, or its error."""
    message = request.POST.get("message", "")
    context = {"message": message, "answer": None, "error": "", "errors": {}}
    status = 200
    try:
        context["answer"] = assistant_prompt_try(message=message)
    except ApplicationError as exc:
        context["errors"], status = _errors_of(exc), _status_of(exc)
    except (AITimeout, AIError) as exc:
        # The provider's own words: the owner fixes the key, URL or model from them.
        context["error"] = str(exc)
    if request.htmx:
        return render(request, "conversations/settings/_ai_test.html", context, status=status)
    page_context = {"ai": selectors.ai_page_get(user=request.user), "errors": {}, "saved": False, "test": context}
    return render(request, "conversations/settings/ai.html", page_context, status=status)


@owner_required
@require_GET
def knowledge_page(request: HttpRequest) -> HttpResponse:
    page = selectors.knowledge_page_get(user=request.user)
    return render(request, "conversations/settings/knowledge.html", {"k": page, "job": page.job, "errors": {}})


@owner_required
@require_POST
def knowledge_fetch(request: HttpRequest) -> HttpResponse:
    """Fetch again: start a ``KnowledgeFetchJob``; answers the progress card, which polls."""
    url = request.POST.get("url", "")
    try:
        job = knowledge_fetch_start(url=url, requested_by=request.user)
    except ApplicationError as exc:
        page = selectors.knowledge_page_get(user=request.user)
        page.url = url
        context = {"k": page, "job": page.job, "errors": _errors_of(exc)}
        template = (
            "conversations/settings/_knowledge_form.html" if request.htmx else "conversations/settings/knowledge.html"
        )
        return render(request, template, context, status=_status_of(exc))
    if not request.htmx:
        return redirect("/settings/knowledge/")
    page = selectors.knowledge_page_get(user=request.user)
    page.url = job.url
    return render(request, "conversations/settings/_knowledge_form.html", {"k": page, "job": job, "errors": {}})


@owner_required
@require_GET
def knowledge_job(request: HttpRequest, job_id) -> HttpResponse:
    """The progress card of one fetch (polled while it runs); when it ends, the summary and
    the preview are swapped too (out of band)."""
    job = selectors.knowledge_job_for(user=request.user, job_id=job_id)
    if job is None:
        return render(request, "conversations/settings/_knowledge_job.html", {"job": None}, status=404)
    context = {"job": job}
    if job.status in ("done", "failed"):
        context["k"] = selectors.knowledge_page_get(user=request.user)
        context["oob"] = True
    return render(request, "conversations/settings/_knowledge_job.html", context)


@owner_required
@require_GET
def bots_page(request: HttpRequest) -> HttpResponse:
    context = {"bots": selectors.bots_list(user=request.user), "errors": {}, "new_name": ""}
    return render(request, "conversations/settings/bots.html", context)


@owner_required
@require_POST
def bot_new(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    try:
        bot = services.bot_add(user=request.user, name=name)
    except ApplicationError as exc:
        context = {"bots": selectors.bots_list(user=request.user), "errors": _errors_of(exc), "new_name": name}
        return render(request, "conversations/settings/bots.html", context, status=_status_of(exc))
    response = redirect(f"/settings/bots/{bot.pk}/")
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = f"/settings/bots/{bot.pk}/"
    return response


def _bot_context(request, bot, **extra) -> dict:
    detail = selectors.bot_detail_get(user=request.user, bot=bot)
    context = {"bot": bot, "errors": {}, "saved": False, "tz": tenant_timezone_name(), "hours_errors": {}}
    context.update(detail)
    context.update(extra)
    context["days"] = _days(context["hours"], context["hours_errors"])
    return context


def _bot_render(request, context: dict, status: int = 200) -> HttpResponse:
    # Schedule and audit times in the business's zone, as the schedule form takes them.
    with timezone.override(tenant_timezone()):
        return _page_or_fragment(
            request, "conversations/settings/bot.html", "conversations/settings/_bot_body.html", context, status
        )


def _bot_or_404(request, bot_id: int):
    bot = selectors.bot_get(user=request.user, bot_id=bot_id)
    if bot is None:
        raise Http404("No such bot.")
    return bot


@owner_required
@require_http_methods(["GET", "POST"])
def bot_page(request: HttpRequest, bot_id: int) -> HttpResponse:
    bot = _bot_or_404(request, bot_id)
    if request.method == "GET":
        return _bot_render(request, _bot_context(request, bot))
    post = request.POST
    try:
        bot = services.bot_settings_save(
            user=request.user,
            bot_id=bot.pk,
            version=post.get("version", ""),
            name=post.get("name", ""),
            system_prompt=post.get("system_prompt", "").strip(),
            is_enabled=post.get("is_enabled") == "on",
            auto_response=post.get("auto_response") == "on",
            ai_enabled=post.get("ai_enabled") == "on",
            lead_capture=post.get("lead_capture") == "on",
        )
        context, status = _bot_context(request, _bot_or_404(request, bot.pk), saved=True), 200
    except ApplicationError as exc:
        context = _bot_context(request, bot, errors=_errors_of(exc))
        # What was typed, with the version it was opened with.
        for name in ("name", "system_prompt"):
            setattr(bot, name, post.get(name, ""))
        for name in ("is_enabled", "auto_response", "ai_enabled", "lead_capture"):
            setattr(bot, name, post.get(name) == "on")
        context["version"] = post.get("version", "")
        status = _status_of(exc)
    return _bot_render(request, context, status)


@owner_required
@require_POST
def bot_hours(request: HttpRequest, bot_id: int) -> HttpResponse:
    """The bot's working hours card: the switch, the weekly ranges and the away message."""
    bot = _bot_or_404(request, bot_id)
    posted = _hours_posted(request.POST)
    version = request.POST.get("hours_version", "")
    try:
        services.bot_hours_save(user=request.user, bot_id=bot.pk, version=version, **posted)
        context, status = _bot_context(request, _bot_or_404(request, bot_id), hours_saved=True), 200
    except ApplicationError as exc:
        hours = _hours_as_typed(selectors.bot_hours_get(user=request.user, bot=bot), posted, version)
        context = _bot_context(request, bot, hours=hours, hours_errors=_errors_of(exc))
        status = _status_of(exc)
    return _bot_render(request, context, status)


@owner_required
@require_POST
def bot_numbers(request: HttpRequest, bot_id: int) -> HttpResponse:
    bot = _bot_or_404(request, bot_id)
    status, errors = 200, {}
    try:
        services.bot_numbers_set(user=request.user, bot_id=bot.pk, phone_number_ids=request.POST.getlist("numbers"))
    except ApplicationError as exc:
        status, errors = _status_of(exc), {"numbers": exc.fields.get("phone_number_id", [exc.message])}
    bot = _bot_or_404(request, bot_id)
    context = _bot_context(request, bot, number_errors=errors, numbers_saved=not errors)
    return _bot_render(request, context, status)


@owner_required
@require_POST
def bot_schedule(request: HttpRequest, bot_id: int) -> HttpResponse:
    bot = _bot_or_404(request, bot_id)
    post = request.POST
    status, errors = 200, {}
    try:
        services.bot_schedule_add(
            user=request.user,
            bot_id=bot.pk,
            enable_at=post.get("enable_at", ""),
            disable_at=post.get("disable_at", ""),
            note=post.get("note", ""),
        )
    except ApplicationError as exc:
        status, errors = _status_of(exc), _errors_of(exc)
    context = _bot_context(
        request, _bot_or_404(request, bot_id), schedule_errors=errors, schedule_post=post if errors else {}
    )
    return _bot_render(request, context, status)
