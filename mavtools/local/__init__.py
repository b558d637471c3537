"""The stand-in ModelArts: a local server that behaves like the API, and its sample data."""
