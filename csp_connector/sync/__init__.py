"""Plain Python decisions of the syncs: input API records and current state, output a
plan. No ORM access here, so these rules are tested without a database."""
