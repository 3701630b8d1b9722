"""A Starlette app for `-k asgi` (tests/asgi_apps.rs), importable only from the test virtualenv.
Checked under uvicorn: `uvicorn --app-dir tests/apps starlette_app:app`.

    /              JSON: hello, and the value the lifespan put into the app's state
    /items/{id}    a path parameter and a query parameter, as JSON
    /stream?n=     n lines from an async generator (StreamingResponse: chunked, no length)
    /upload        POST: the length of the body Starlette read (request.body())
    /ws            WebSocket echo of text messages
"""
import asyncio
import contextlib
import os

from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute

from markers import mark


@contextlib.asynccontextmanager
async def lifespan(app):
    mark(f"starlette-startup-{os.getpid()}")
    # Starlette's lifespan state: what is yielded is copied into every request's state.
    yield {"from_lifespan": "starlette state"}


async def index(request):
    return JSONResponse({"hello": "starlette", "state": request.state.from_lifespan})


async def item(request):
    return JSONResponse({"id": request.path_params["item_id"], "q": request.query_params.get("q")})


async def stream(request):
    n = int(request.query_params.get("n", "3"))

    async def lines():
        for i in range(n):
            yield f"line {i}\n"
            await asyncio.sleep(0.01)

    return StreamingResponse(lines(), media_type="text/plain")


async def upload(request):
    return JSONResponse({"length": len(await request.body())})


async def ws(websocket):
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        await websocket.send_text(message.get("text") or "")


app = Starlette(
    routes=[
        Route("/", index),
        Route("/items/{item_id:int}", item),
        Route("/stream", stream),
        Route("/upload", upload, methods=["POST"]),
        WebSocketRoute("/ws", ws),
    ],
    lifespan=lifespan,
)
