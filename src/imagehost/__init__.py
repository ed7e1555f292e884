"""imagehost: an image backend service for the whole life of an image."""

__version__ = "0.1.0"
