"""Plain Python parts of the syncs: decisions (input API records and current state,
output a plan), the integrator's time budget and the connection's sync lock. No ORM
access here, so these rules are tested without a database."""
