"""Customer journeys (issue 17): the pure core — events in, journey definitions, the rules of
a send, signatures and opt-out requests. No storage, network or clock here: every time is a
value passed in (epoch seconds), so each rule is a function that tests can pin down."""
