"""Nova Poshta (Ukraine): JSON API v2.0, one POST endpoint, an API key in the body; most Rozetka parcels."""

from adapters import CarrierSpec

CARRIER = CarrierSpec(name="novaposhta", title="Nova Poshta", logins=(("api_key",),),
                      build="adapters.novaposhta.adapter:build", default_url="https://api.novaposhta.ua/v2.0/json/", country="UA")
