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


def cookie(request):
    """Sets two cookies: Django writes each `Set-Cookie` value with a leading space."""
    response = JsonResponse({"cookies": "set"})
    response.set_cookie("session", "s1")
    response.set_cookie("theme", "dark", samesite="Lax")
    return response
