"""What chat clients (Twilio's Conversations SDK, through the gateway) read and call.

The SDK reads a conversation as Sync objects (a document, a message list, a roster map) and a user as two maps
(their profile, their conversations). None of them is stored: each is a view of the domain's rows, and each
object's event ids are the `seq` of the change-event stream it belongs to (a conversation's or a user's), so a
client that comes back with the last id it saw is sent what changed since, from the log (`feed`).
"""
