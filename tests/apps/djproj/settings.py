"""The smallest Django project that serves a view: no database, no apps, no middleware."""
SECRET_KEY = "gunicorn-rs-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "djproj.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True
