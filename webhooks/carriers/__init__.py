"""Carrier webhooks: one module per carrier, each verifying its own signatures."""
