from django.urls import include, path

from conversations import views
from conversations.dashboard import simulator
from conversations.dashboard import views as inbox

urlpatterns = [
    path("", inbox.inbox, name="inbox"),
    path("c/<int:conversation_id>/", inbox.conversation_page, name="inbox-conversation"),
    path("c/<int:conversation_id>/thread/", inbox.thread_fragment, name="inbox-thread"),
    path("c/<int:conversation_id>/row/", inbox.row_fragment, name="inbox-row"),
    path("c/<int:conversation_id>/panel/", inbox.panel_fragment, name="inbox-panel"),
    path("c/<int:conversation_id>/composer/", inbox.composer_fragment, name="inbox-composer"),
    path("c/<int:conversation_id>/menu/", inbox.menu_fragment, name="inbox-menu"),
    path("c/<int:conversation_id>/m/<int:message_id>/", inbox.message_fragment, name="inbox-message"),
    path("c/<int:conversation_id>/media/<int:message_id>/", inbox.message_media, name="inbox-media"),
    path("c/<int:conversation_id>/retry/<int:message_id>/", inbox.message_retry, name="inbox-retry"),
    path("c/<int:conversation_id>/send/", inbox.send_text, name="inbox-send"),
    path("c/<int:conversation_id>/note/", inbox.send_note, name="inbox-note"),
    path("c/<int:conversation_id>/template/", inbox.send_template, name="inbox-send-template"),
    path("c/<int:conversation_id>/template-form/", inbox.template_form, name="inbox-template-form"),
    path("c/<int:conversation_id>/attach/", inbox.send_attachment, name="inbox-send-attachment"),
    path("c/<int:conversation_id>/action/<slug:action>/", inbox.conversation_action, name="inbox-action"),
    path("inbox/canned/", inbox.canned_create, name="inbox-canned"),
    path("inbox/catchup/", inbox.live_catchup, name="inbox-catchup"),
    path("simulator/", simulator.simulator_page, name="simulator"),
    path("simulator/phone/", simulator.phone_fragment, name="simulator-phone"),
    path("simulator/send/", simulator.simulator_send, name="simulator-send"),
    path("soon/<slug:section>/", views.coming_soon, name="coming-soon"),
    path("settings/", include("conversations.settings_pages.urls")),
]
