"""Talking to ModelArts: configuration, authentication, transport, paging and the client."""
