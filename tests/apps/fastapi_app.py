"""A FastAPI app for `-k asgi` (tests/asgi_apps.rs), importable only from the test virtualenv.
Checked under uvicorn: `uvicorn --app-dir tests/apps fastapi_app:app`.

    GET  /items/{item_id}?q=   JSON from a typed path parameter (a non-integer id is a 422)
    POST /items                a Pydantic model body: the validated item back as JSON, with
                               its computed total; a body that does not validate is a 422
"""
import os

from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI()


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    quantity: int = 1


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q, "pid": os.getpid()}


@app.post("/items")
async def create_item(item: Item):
    return {"name": item.name, "price": item.price, "quantity": item.quantity, "total": item.price * item.quantity}
