"""Speedy (Bulgaria): JSON web API, the login inside every request body; Chopni sellers' other courier."""

from adapters import CarrierSpec

CARRIER = CarrierSpec(name="speedy", title="Speedy", logins=(("username", "password"),),
                      build="adapters.speedy.adapter:build", default_url="https://api.speedy.bg/v1", country="BG")
