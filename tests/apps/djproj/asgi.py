"""Django's ASGI entry for the project of wsgi.py (tests/asgi_apps.rs: `djproj.asgi:application`
under `-k asgi`), same settings."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproj.settings")
application = get_asgi_application()
