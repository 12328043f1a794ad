"""chatkit-server: a Python server SDK for the ChatKit chat UI, API-compatible with the reference."""
