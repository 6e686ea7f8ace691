"""The headless render daemon: its wire protocol, transport, frame cache, range scheduling, server, workers and client."""
