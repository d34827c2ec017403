"""The floor for cold starts: the least a FastAPI function behind Mangum can be.

One route with a path parameter and a response model, as every handler has at least
that much (building such a route is where FastAPI pays for its pydantic compatibility
checks, so a route-less app would be a floor no real function could reach).
"""

from __future__ import annotations

from fastapi import FastAPI
from mangum import Mangum
from pydantic import BaseModel

app = FastAPI()


class Answer(BaseModel):
    reference: str


@app.get("/api/things/{reference}")
def read(reference: str) -> Answer:
    return Answer(reference=reference)


handler = Mangum(app, lifespan="off")
