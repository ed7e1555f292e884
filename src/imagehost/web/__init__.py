"""HTTP: the FastAPI app factory and thin routers."""
