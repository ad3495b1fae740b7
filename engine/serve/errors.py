"""A refused request: the HTTP status, the field at fault and why (sent as JSON)."""

from __future__ import annotations


class RequestError(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status, self.field, self.message = status, field, message

    def body(self) -> dict:
        return {"error": f"{self.field}: {self.message}", "field": self.field}
