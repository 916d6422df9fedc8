"""Customer journeys: events in, journey definitions, the rules of a send, signatures and
opt-out requests (pure: every time is a value passed in, so each rule is a function tests can
pin down); :mod:`bot.journeys.service` ties them to the store, :mod:`bot.journeys.webhook` to
``POST /v1/events``."""
