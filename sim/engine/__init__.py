"""The engine: a run's state, its phases and the driver loop that calls them (see ``world``)."""
