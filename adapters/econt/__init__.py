"""Econt (Bulgaria): JSON services, HTTP Basic with the e-Econt login; what many Chopni sellers ship with."""

from adapters import CarrierSpec

CARRIER = CarrierSpec(name="econt", title="Econt", logins=(("username", "password"),),
                      build="adapters.econt.adapter:build", default_url="https://ee.econt.com/services", country="BG")
