"""The bridge's domain: models, SIDs, addresses, routing, delivery state and carriers.

This package imports neither Flask nor Celery.
"""
