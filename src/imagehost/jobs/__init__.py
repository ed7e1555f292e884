"""Bulk work (migrate, resize, transfer, reindex): resumable, observable, local or on Celery."""
