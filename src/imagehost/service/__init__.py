"""Use cases, free of HTTP: each takes its collaborators explicitly."""
