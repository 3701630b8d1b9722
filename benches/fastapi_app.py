"""A FastAPI JSON endpoint for benches/asgi.py: GET / returns a small dict through a Pydantic
model (response_model validation and serialisation, as a typical API endpoint does)."""

from fastapi import FastAPI
from pydantic import BaseModel


class Item(BaseModel):
    id: int
    name: str
    price: float
    tags: list[str]
    in_stock: bool


app = FastAPI()


@app.get("/", response_model=Item)
async def item():
    return {"id": 42, "name": "widget", "price": 9.99, "tags": ["a", "b"], "in_stock": True}
