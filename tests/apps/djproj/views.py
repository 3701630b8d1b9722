import sys

import django
from django.http import JsonResponse


def index(request):
    return JsonResponse(
        {
            "django": django.get_version(),
            "prefix": sys.prefix,
            "executable": sys.executable,
            "django_file": django.__file__,
        }
    )


def hello(request, name):
    return JsonResponse({"hello": name, "q": request.GET.get("q")})
