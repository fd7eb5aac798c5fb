"""The Twilio-compatible REST API: one module per resource."""

from __future__ import annotations

from flask import Blueprint


def blueprints() -> list[Blueprint]:
    from webhooks.api import (
        address_configurations,
        configuration,
        conversations,
        mcs,
        media,
        messages,
        messaging,
        participant_conversations,
        participants,
        push,
        roles,
        services,
        user_conversations,
        users,
        webhooks,
    )

    return [
        module.blueprint
        for module in (
            configuration,
            services,
            conversations,
            participants,
            messages,
            roles,
            users,
            user_conversations,
            participant_conversations,
            address_configurations,
            webhooks,
            messaging,
            push,
            media,  # MCS-like Media, and the public /media/{ME}/{token} content URLs
            mcs,  # the media service chat clients call (/MCS/v1/...), with their access tokens
        )
    ]
