"""The local HTTP API for the trader's scripts (DESIGN.md, "The local API"): heartbeats,
opportunities and intents into the director, its State of the Union out. FastAPI on uvicorn,
inside the director's own event loop; on only when OMEGA_API_TOKEN is set."""
