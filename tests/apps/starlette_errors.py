"""A Starlette app whose endpoint raises (tests/frameworks.rs). Starlette's
ServerErrorMiddleware answers a whole 500 (`Content-Length`) and then re-raises the
exception for the server to log, so the server sees an app that raised after its response
was complete. Checked under uvicorn: `uvicorn --app-dir tests/apps starlette_errors:app`.

    /       200, "fine"
    /boom   the endpoint raises: Starlette's 500, then the exception
"""
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def fine(request):
    return PlainTextResponse("fine")


async def boom(request):
    raise RuntimeError("boom in the endpoint")


app = Starlette(routes=[Route("/", fine), Route("/boom", boom, methods=["GET", "POST"])])
