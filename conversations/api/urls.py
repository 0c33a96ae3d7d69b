from conversations.api.read_urls import urlpatterns as read_urlpatterns
from conversations.api.send_urls import urlpatterns as send_urlpatterns

urlpatterns = read_urlpatterns + send_urlpatterns
