"""The chat gateway: Twilio's twilsock protocol over WebSocket, for the official Conversations SDK unmodified.

An asyncio process of its own (`bridge gateway`): it holds the sockets, answers the SDK's requests with
`bridge.chat` (whose database work runs on a thread pool), and sends each client the Sync events of the objects
it follows, read from the change-event log when Redis says a stream moved (and on a poll, should Redis not).
"""
