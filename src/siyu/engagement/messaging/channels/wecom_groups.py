"""WeCom's 客户群 API (customer groups, join ways, group welcome templates, group mass messages, group
transfer), mixed into WeComClient (siyu.engagement.messaging.channels.wecom), which provides `call`."""

from __future__ import annotations


class GroupChatCalls:
    pass
