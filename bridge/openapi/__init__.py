"""OpenAPI: Twilio's Conversations v1 spec as shipped, and the bridge's own document built from it."""
