"""Small stand-ins shared by the unit tests that read a lab's checks without Docker."""

from __future__ import annotations


class FakeCompose:
    """Compose's canonical services, as ``ComposeProject.services()`` returns them."""

    def __init__(self, services: dict):
        self._services = services

    def services(self) -> dict:
        return self._services
