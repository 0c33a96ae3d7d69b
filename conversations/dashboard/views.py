"""Pages and htmx fragments of the inbox (thin: parse, call a selector or service, render)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from conversations.selectors import conversation_list


@login_required
def inbox(request):
    conversations = conversation_list()[:50]
    ws_url = settings.LIVE_WEBSOCKET_URL.format(host=request.get_host().split(":")[0])
    return render(request, "conversations/inbox.html", {"conversations": conversations, "ws_url": ws_url})
