"""Running the server: wiring, workers, reload and drain, janitor, preflight."""
