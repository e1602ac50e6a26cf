"""Ukrposhta (Ukraine): the StatusTracking API with its own bearer token; Rozetka's second carrier."""

from adapters import CarrierSpec

CARRIER = CarrierSpec(name="ukrposhta", title="Ukrposhta", logins=(("api_key",),),
                      build="adapters.ukrposhta.adapter:build",
                      default_url="https://www.ukrposhta.ua/status-tracking/0.0.1/", country="UA")
