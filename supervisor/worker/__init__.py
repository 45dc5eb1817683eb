"""The Faust adapter around the engine: case events in, alerts and dead letters out."""
