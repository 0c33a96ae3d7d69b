"""WSGI entry point: plain HTTP (API, webhook, dashboard) behind granian."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bizmitra.settings.base")

application = get_wsgi_application()
