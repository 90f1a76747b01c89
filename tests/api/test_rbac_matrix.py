"""The RBAC matrix: every API operation (read from the API's own OpenAPI schema, so a new route is covered
the day it is mounted) and every console URL (walked from the URL resolver) against every role, one request
per cell, on the four-customer sample brand (customer 1001 is owned by guide1 of store S1; `manager` runs S1,
`other_manager` runs S2).

API columns asserted for every operation, without a table: no token -> 401, an expired token -> 401, a token
(of the admin) whose scopes lack the route's area -> 403, all before the body is read. The tables below give
the answer of each role (a token with every scope, so only the role decides) and are the matrix a reviewer
reads: 401/403 are denials, 404 on the customer 1001 for `other_manager` is the store boundary, anything else
(200, 201, 400, 404 for a missing object, 405, 409, 422) means the role got past the permission check.
A write is sent with an empty JSON body. Every write route declares its roles (@roles, siyu.staff.roles), checked
with the token before the body is read, so a denied role gets 403 whatever it sends (asserted for every write
route with empty, broken and wrongly shaped bodies and one holding a NUL character, without a table) and
never learns the body's shape (or that a text was refused) from a 422; only the routes of OPEN_WRITES, open
to every staff role, answer 422 to every role. No token or a token without the route's scope is refused the
same way when the request holds a NUL character; the admin, admitted everywhere, gets 422 for it.

Console columns: anonymous -> 302 to the login page for every page except the public callbacks (asserted for
every URL, without a table); the table gives each role's answer to a GET.

Regenerate a table after a deliberate change with RBAC_MATRIX_PRINT=1 (the test prints the observed rows)
and review the difference line by line."""

from __future__ import annotations

import datetime as dt
import json
import os
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from customers.sample_brand import make_brand
from siyu.api.actions import create_token
from siyu.api.api import api
from siyu.api.scopes import AREAS
from siyu.staff.queries import has_role
from siyu.staff.roles import declared_roles

pytestmark = [pytest.mark.django_db]

ROLES = ("admin", "operator", "manager", "guide", "other_manager")
ROLE_USERS = {"admin": "admin", "operator": "operator", "manager": "manager", "guide": "guide1",
              "other_manager": "other_manager"}  # fmt: skip
# token_id names no token, so that revoking it never revokes a caller's own
PATH_VALUES = {"customer_id": "1001", "channel": "sms", "page": "funnel", "name": "x", "code": "X-1",
               "provider": "aliyun", "token": "x", "kind": "receipt", "job_id": "00000000-0000-0000-0000-000000000001",
               "slug": "funnel", "token_id": "999999"}  # fmt: skip
PUBLIC_CONSOLE = {"engagement/wecom/callback/", "engagement/sms/<str:provider>/<str:token>/<str:kind>/",
                  "login/", "logout/"}  # fmt: skip

# Write routes every staff role may call (the action scopes the data: a guide's own customers, groups, tasks
# and code; the till; a privacy request on a visible customer's behalf), so they declare no roles.
OPEN_WRITES = {
    ("DELETE", "/api/customers/{customer_id}/tags"),
    ("POST", "/api/acquisition/my-code"),
    ("POST", "/api/community/group-messages"),
    ("POST", "/api/customers/{customer_id}/consents"),
    ("POST", "/api/customers/{customer_id}/notes"),
    ("POST", "/api/customers/{customer_id}/tags"),
    ("POST", "/api/loyalty/coupons/redeem"),
    ("POST", "/api/loyalty/points/members/{int:customer_id}/till-burns"),
    ("POST", "/api/privacy/requests"),
    ("POST", "/api/sends"),
    ("POST", "/api/tags/bulk"),
    ("POST", "/api/tasks/{task_id}/complete"),
    ("POST", "/api/wecom/tags"),
}
WRITES = ("POST", "PUT", "PATCH", "DELETE")
# bodies a denied role may send: empty, not JSON, JSON of the wrong shape
NUL_BODY = json.dumps({"name": "a\x00b"})  # {"name": "a\\u0000b"}: a text with a NUL character
BAD_BODIES = ("{}", "not json", "[1, 2]", '{"name": 7, "customer_ids": "x"}', NUL_BODY)

# (METHOD, path): the answer of          admin, operator, manager, guide, other_manager
API_MATRIX = {
    ('DELETE', '/api/analytics-spend/{spend_id}'): (200, 200, 403, 403, 403),
    ('DELETE', '/api/community/group-codes/{code_id}'): (404, 404, 404, 403, 404),
    ('DELETE', '/api/community/group-welcome-templates/{template_id}'): (404, 404, 404, 403, 404),
    ('DELETE', '/api/community/sensitive-rules/{int:rule_id}'): (404, 404, 403, 403, 403),
    ('DELETE', '/api/customers/{customer_id}/tags'): (422, 422, 422, 422, 422),
    ('DELETE', '/api/integrations/subscriptions/{int:subscription_id}'): (404, 403, 403, 403, 403),
    ('DELETE', '/api/journeys/{journey_id}'): (404, 404, 403, 404, 403),
    ('DELETE', '/api/loyalty/earn-rules/{rule_id}'): (404, 404, 403, 403, 403),
    ('DELETE', '/api/segments/{segment_id}'): (404, 404, 403, 403, 403),
    ('DELETE', '/api/traits/computed-tags/{name}'): (404, 404, 403, 403, 403),
    ('DELETE', '/api/traits/stage-sets/{name}'): (404, 404, 403, 403, 403),
    ('GET', '/api/acquisition/codes'): (200, 200, 403, 403, 403),
    ('GET', '/api/acquisition/codes/{int:code_id}'): (404, 404, 403, 403, 403),
    ('GET', '/api/acquisition/codes/{int:code_id}/adds'): (404, 404, 403, 403, 403),
    ('GET', '/api/acquisition/codes/{int:code_id}/routing'): (404, 404, 403, 403, 403),
    ('GET', '/api/analytics-spend'): (200, 200, 403, 403, 403),
    ('GET', '/api/analytics/{page}'): (200, 200, 403, 403, 403),
    ('GET', '/api/analytics/{page}/export'): (200, 200, 403, 403, 403),
    ('GET', '/api/channel-accounts'): (200, 403, 403, 403, 403),
    ('GET', '/api/channel-accounts/{channel}'): (404, 403, 403, 403, 403),
    ('GET', '/api/community/group-codes'): (200, 200, 200, 403, 200),
    ('GET', '/api/community/group-codes/{code_id}'): (404, 404, 404, 403, 404),
    ('GET', '/api/community/group-welcome-templates'): (200, 200, 200, 403, 200),
    ('GET', '/api/community/groups'): (200, 200, 200, 200, 200),
    ('GET', '/api/community/groups/health'): (200, 200, 200, 403, 200),
    ('GET', '/api/community/groups/{group_id}'): (404, 404, 404, 404, 404),
    ('GET', '/api/community/groups/{group_id}/members'): (404, 404, 404, 404, 404),
    ('GET', '/api/community/handovers'): (200, 200, 200, 403, 200),
    ('GET', '/api/community/handovers/{int:handover_id}/items'): (404, 404, 404, 403, 404),
    ('GET', '/api/community/message-counts'): (200, 200, 200, 403, 200),
    ('GET', '/api/community/response-times'): (200, 200, 200, 403, 200),
    ('GET', '/api/community/sensitive-alerts'): (200, 200, 200, 403, 200),
    ('GET', '/api/community/sensitive-rules'): (200, 200, 200, 403, 200),
    ('GET', '/api/community/silent-members'): (200, 200, 200, 403, 200),
    ('GET', '/api/contact-policy'): (200, 200, 403, 403, 403),
    ('GET', '/api/customers'): (200, 200, 200, 200, 200),
    ('GET', '/api/customers/{customer_id}'): (200, 200, 200, 200, 403),
    ('GET', '/api/customers/{customer_id}/predictions'): (404, 404, 404, 404, 403),
    ('GET', '/api/customers/{customer_id}/sends'): (200, 200, 200, 200, 403),
    ('GET', '/api/customers/{customer_id}/traits'): (404, 404, 404, 404, 403),
    ('GET', '/api/guide-report'): (200, 200, 200, 403, 200),
    ('GET', '/api/identity/quarantine'): (200, 200, 403, 403, 403),
    ('GET', '/api/identity/review'): (200, 200, 403, 403, 403),
    ('GET', '/api/identity/review/rules'): (200, 200, 403, 403, 403),
    ('GET', '/api/integrations/subscriptions'): (200, 403, 403, 403, 403),
    ('GET', '/api/integrations/subscriptions/{int:subscription_id}'): (404, 403, 403, 403, 403),
    ('GET', '/api/integrations/subscriptions/{int:subscription_id}/deliveries'): (404, 403, 403, 403, 403),
    ('GET', '/api/journeys'): (200, 200, 403, 403, 403),
    ('GET', '/api/journeys/{journey_id}'): (404, 404, 403, 403, 403),
    ('GET', '/api/journeys/{journey_id}/lift'): (404, 404, 403, 403, 403),
    ('GET', '/api/loyalty/checkin/members/{customer_id}/calendar'): (200, 200, 200, 200, 200),
    ('GET', '/api/loyalty/coupon-templates'): (200, 200, 200, 403, 200),
    ('GET', '/api/loyalty/coupon-templates/{template_id}'): (404, 404, 404, 403, 404),
    ('GET', '/api/loyalty/coupons/{code}'): (404, 404, 404, 403, 404),
    ('GET', '/api/loyalty/customers/{customer_id}/coupons'): (200, 200, 200, 200, 200),
    ('GET', '/api/loyalty/earn-rules'): (200, 200, 200, 200, 200),
    ('GET', '/api/loyalty/mall/items'): (200, 200, 200, 200, 200),
    ('GET', '/api/loyalty/mall/members/{customer_id}/items'): (200, 200, 200, 200, 200),
    ('GET', '/api/loyalty/mall/redemptions'): (200, 200, 200, 200, 200),
    ('GET', '/api/loyalty/members/{customer_id}/tier'): (200, 200, 200, 200, 200),
    ('GET', '/api/loyalty/points/members/{int:customer_id}'): (200, 200, 200, 200, 403),
    ('GET', '/api/loyalty/points/members/{int:customer_id}/history'): (200, 200, 200, 200, 403),
    ('GET', '/api/loyalty/tiers'): (200, 200, 200, 200, 200),
    ('GET', '/api/materials'): (200, 200, 200, 200, 200),
    ('GET', '/api/materials/{material_id}'): (404, 404, 404, 404, 404),
    ('GET', '/api/predictions/calibration'): (404, 404, 403, 403, 403),
    ('GET', '/api/predictions/runs'): (200, 200, 200, 200, 200),
    ('GET', '/api/privacy/requests'): (200, 200, 403, 403, 403),
    ('GET', '/api/privacy/requests/{int:request_id}'): (404, 404, 403, 403, 403),
    ('GET', '/api/privacy/requests/{int:request_id}/copy'): (404, 404, 403, 403, 403),
    ('GET', '/api/script-groups'): (200, 200, 200, 200, 200),
    ('GET', '/api/scripts'): (200, 200, 200, 200, 200),
    ('GET', '/api/scripts/{script_id}/render'): (422, 422, 422, 422, 422),
    ('GET', '/api/segments'): (200, 200, 403, 403, 403),
    ('GET', '/api/segments/{segment_id}'): (404, 404, 403, 403, 403),
    ('GET', '/api/segments/{segment_id}/changes'): (404, 404, 403, 403, 403),
    ('GET', '/api/segments/{segment_id}/members'): (404, 404, 403, 403, 403),
    ('GET', '/api/sends'): (200, 200, 403, 403, 403),
    ('GET', '/api/surveys'): (200, 200, 403, 403, 403),
    ('GET', '/api/surveys/attributes'): (200, 200, 403, 403, 403),
    ('GET', '/api/surveys/{survey_id}'): (404, 404, 403, 403, 403),
    ('GET', '/api/surveys/{survey_id}/persona'): (404, 404, 403, 403, 403),
    ('GET', '/api/surveys/{survey_id}/responses'): (404, 404, 403, 403, 403),
    ('GET', '/api/surveys/{survey_id}/results'): (404, 404, 403, 403, 403),
    ('GET', '/api/tags'): (200, 200, 200, 200, 200),
    ('GET', '/api/task-batches'): (200, 200, 200, 200, 200),
    ('GET', '/api/tasks'): (200, 200, 200, 200, 200),
    ('GET', '/api/tasks/{task_id}'): (404, 404, 404, 404, 404),
    ('GET', '/api/traits/computed-tags'): (200, 200, 200, 200, 200),
    ('GET', '/api/traits/runs'): (200, 200, 200, 200, 200),
    ('GET', '/api/traits/stage-sets'): (200, 200, 200, 200, 200),
    ('PATCH', '/api/acquisition/codes/{int:code_id}'): (404, 404, 403, 403, 403),
    ('POST', '/api/acquisition/codes'): (422, 422, 403, 403, 403),
    ('POST', '/api/acquisition/codes/{int:code_id}/archive'): (404, 404, 403, 403, 403),
    ('POST', '/api/acquisition/my-code'): (400, 400, 400, 400, 400),
    ('POST', '/api/acquisition/store-codes'): (422, 422, 403, 403, 403),
    ('POST', '/api/analytics-customer-lists'): (422, 422, 403, 403, 403),
    ('POST', '/api/analytics-spend'): (422, 422, 403, 403, 403),
    ('POST', '/api/channel-accounts/{channel}'): (422, 403, 403, 403, 403),
    ('POST', '/api/community/chat-archive/imports'): (422, 422, 403, 403, 403),
    ('POST', '/api/community/group-codes'): (422, 422, 422, 403, 422),
    ('POST', '/api/community/group-codes/{code_id}'): (404, 404, 404, 403, 404),
    ('POST', '/api/community/group-messages'): (422, 422, 422, 422, 422),
    ('POST', '/api/community/group-welcome-templates'): (422, 422, 422, 403, 422),
    ('POST', '/api/community/group-welcome-templates/{template_id}'): (422, 422, 422, 403, 422),
    ('POST', '/api/community/groups/{group_id}'): (404, 404, 404, 403, 404),
    ('POST', '/api/community/handovers'): (422, 422, 422, 403, 422),
    ('POST', '/api/community/handovers/check'): (200, 200, 200, 403, 200),
    ('POST', '/api/community/sensitive-alerts/{int:alert_id}/handle'): (404, 404, 404, 403, 404),
    ('POST', '/api/community/sensitive-rules'): (422, 422, 403, 403, 403),
    ('POST', '/api/community/sensitive-rules/rescan'): (200, 200, 403, 403, 403),
    ('POST', '/api/contact-policy'): (200, 403, 403, 403, 403),
    ('POST', '/api/customers/{customer_id}/consents'): (422, 422, 422, 422, 422),
    ('POST', '/api/customers/{customer_id}/notes'): (422, 422, 422, 422, 422),
    ('POST', '/api/customers/{customer_id}/tags'): (422, 422, 422, 422, 422),
    ('POST', '/api/events'): (422, 422, 403, 403, 403),
    ('POST', '/api/events/batch'): (422, 422, 403, 403, 403),
    ('POST', '/api/identity/decisions'): (422, 422, 403, 403, 403),
    ('POST', '/api/identity/merge'): (422, 422, 403, 403, 403),
    ('POST', '/api/identity/review/rules/decide'): (422, 422, 403, 403, 403),
    ('POST', '/api/identity/split'): (422, 422, 403, 403, 403),
    ('POST', '/api/identity/undo'): (422, 422, 403, 403, 403),
    ('POST', '/api/integrations/deliveries/{int:delivery_id}/redeliver'): (404, 403, 403, 403, 403),
    ('POST', '/api/integrations/subscriptions'): (422, 403, 403, 403, 403),
    ('POST', '/api/integrations/subscriptions/{int:subscription_id}'): (404, 403, 403, 403, 403),
    ('POST', '/api/integrations/subscriptions/{int:subscription_id}/secret'): (404, 403, 403, 403, 403),
    ('POST', '/api/integrations/subscriptions/{int:subscription_id}/test'): (404, 403, 403, 403, 403),
    ('POST', '/api/journeys'): (422, 422, 403, 422, 403),
    ('POST', '/api/journeys/{journey_id}/activate'): (404, 404, 403, 404, 403),
    ('POST', '/api/journeys/{journey_id}/pause'): (404, 404, 403, 403, 403),
    ('POST', '/api/loyalty/checkin/members/{customer_id}/cards'): (200, 200, 403, 403, 403),
    ('POST', '/api/loyalty/checkin/members/{customer_id}/checkins'): (200, 200, 200, 200, 200),
    ('POST', '/api/loyalty/checkin/members/{customer_id}/make-ups'): (422, 422, 422, 422, 422),
    ('POST', '/api/loyalty/coupon-templates'): (422, 422, 403, 403, 403),
    ('POST', '/api/loyalty/coupon-templates/{template_id}'): (422, 422, 403, 403, 403),
    ('POST', '/api/loyalty/coupons'): (422, 422, 403, 403, 403),
    ('POST', '/api/loyalty/coupons/redeem'): (422, 422, 422, 422, 422),
    ('POST', '/api/loyalty/earn-rules'): (422, 422, 403, 403, 403),
    ('POST', '/api/loyalty/earn-rules/{rule_id}'): (404, 404, 403, 403, 403),
    ('POST', '/api/loyalty/mall/redemptions'): (422, 422, 422, 422, 422),
    ('POST', '/api/loyalty/points/members/{int:customer_id}/adjustments'): (422, 422, 403, 403, 403),
    ('POST', '/api/loyalty/points/members/{int:customer_id}/till-burns'): (422, 422, 422, 422, 422),
    ('POST', '/api/loyalty/tiers'): (422, 422, 403, 403, 403),
    ('POST', '/api/loyalty/tiers/{tier_id}'): (404, 404, 403, 403, 403),
    ('POST', '/api/materials'): (422, 422, 403, 403, 403),
    ('POST', '/api/materials/{material_id}/archive'): (404, 404, 403, 403, 403),
    ('POST', '/api/orders'): (422, 422, 403, 403, 403),
    ('POST', '/api/orders/batch'): (422, 422, 403, 403, 403),
    ('POST', '/api/predictions/runs'): (202, 202, 403, 403, 403),
    ('POST', '/api/privacy/requests'): (422, 422, 422, 422, 422),
    ('POST', '/api/privacy/requests/{int:request_id}/corrections'): (404, 404, 403, 403, 403),
    ('POST', '/api/privacy/requests/{int:request_id}/erase'): (404, 404, 403, 403, 403),
    ('POST', '/api/privacy/requests/{int:request_id}/status'): (422, 422, 403, 403, 403),
    ('POST', '/api/script-groups'): (422, 422, 403, 403, 403),
    ('POST', '/api/scripts'): (422, 422, 403, 403, 403),
    ('POST', '/api/scripts/{script_id}'): (422, 422, 403, 403, 403),
    ('POST', '/api/scripts/{script_id}/archive'): (404, 404, 403, 403, 403),
    ('POST', '/api/segments'): (422, 422, 403, 403, 403),
    ('POST', '/api/segments/preview'): (422, 422, 403, 403, 403),
    ('POST', '/api/segments/{segment_id}/refresh'): (404, 404, 403, 403, 403),
    ('POST', '/api/sends'): (422, 422, 422, 422, 422),
    ('POST', '/api/surveys'): (422, 422, 403, 403, 403),
    ('POST', '/api/surveys/attributes'): (422, 422, 403, 403, 403),
    ('POST', '/api/surveys/{survey_id}'): (404, 404, 403, 403, 403),
    ('POST', '/api/surveys/{survey_id}/responses'): (422, 422, 403, 403, 403),
    ('POST', '/api/tags/bulk'): (422, 422, 422, 422, 422),
    ('POST', '/api/task-batches'): (422, 422, 422, 403, 422),
    ('GET', '/api/tokens'): (200, 403, 403, 403, 403),
    ('POST', '/api/tokens'): (422, 403, 403, 403, 403),
    ('POST', '/api/tokens/{int:token_id}/revoke'): (404, 403, 403, 403, 403),
    ('POST', '/api/task-batches/{batch_id}/cancel'): (404, 404, 404, 403, 404),
    ('POST', '/api/tasks/reassign'): (422, 422, 422, 403, 422),
    ('POST', '/api/tasks/{task_id}/complete'): (422, 422, 422, 422, 422),
    ('POST', '/api/traits/runs'): (202, 202, 403, 403, 403),
    ('POST', '/api/wecom/tags'): (422, 422, 422, 422, 422),
    ('POST', '/api/wecom/transfers'): (422, 422, 422, 403, 422),
    ('PUT', '/api/community/sensitive-rules/{int:rule_id}'): (422, 422, 403, 403, 403),
    ('PUT', '/api/journeys/{journey_id}'): (422, 422, 403, 422, 403),
    ('PUT', '/api/segments/{segment_id}'): (422, 422, 403, 403, 403),
    ('PUT', '/api/traits/computed-tags/{name}'): (422, 422, 403, 403, 403),
    ('PUT', '/api/traits/stage-sets/{name}'): (422, 422, 403, 403, 403),
}

# console path: the answer to a GET of       admin, operator, manager, guide, other_manager
CONSOLE_MATRIX = {
    '': (200, 200, 200, 200, 200),
    'acquisition/': (200, 200, 403, 403, 403),
    'acquisition/<int:code_id>/': (404, 404, 403, 403, 403),
    'acquisition/<int:code_id>/archive/': (405, 405, 405, 405, 405),
    'acquisition/<int:code_id>/edit/': (404, 404, 403, 403, 403),
    'acquisition/<int:code_id>/poster/': (404, 404, 404, 404, 404),
    'acquisition/<int:code_id>/qr.png': (404, 404, 404, 404, 404),
    'acquisition/my-code/': (200, 200, 200, 200, 200),
    'acquisition/new/': (200, 200, 403, 403, 403),
    'acquisition/quality/': (200, 200, 403, 403, 403),
    'acquisition/store-codes/': (200, 200, 403, 403, 403),
    'analytics/': (302, 302, 403, 403, 403),
    'analytics/<slug:page>/': (200, 200, 403, 403, 403),
    'analytics/customer-lists/': (405, 405, 405, 405, 405),
    'analytics/spend/': (405, 405, 405, 405, 405),
    'analytics/spend/<int:spend_id>/delete/': (405, 405, 405, 405, 405),
    'analytics/spend/import/': (405, 405, 405, 405, 405),
    'community/chat-archive/import/': (405, 405, 405, 405, 405),
    'community/chat-insights/': (200, 200, 200, 403, 200),
    'community/groups/': (200, 200, 200, 200, 200),
    'community/groups/<int:group_id>/': (404, 404, 404, 404, 404),
    'community/groups/codes/': (200, 200, 403, 403, 403),
    'community/groups/codes/<int:code_id>/': (404, 404, 403, 403, 403),
    'community/groups/health/': (200, 200, 200, 403, 200),
    'community/groups/messages/': (200, 200, 200, 200, 200),
    'community/groups/welcome/': (200, 200, 403, 403, 403),
    'community/groups/welcome/<int:template_id>/delete/': (404, 404, 403, 403, 403),
    'community/handovers/': (200, 200, 200, 403, 200),
    'community/handovers/<int:handover_id>/': (404, 404, 404, 403, 404),
    'community/handovers/check/': (405, 405, 405, 405, 405),
    'community/handovers/start/': (405, 405, 405, 405, 405),
    'community/sensitive-words/': (200, 200, 200, 403, 200),
    'community/sensitive-words/alerts/<int:alert_id>/handle/': (405, 405, 405, 405, 405),
    'community/sensitive-words/rescan/': (405, 405, 405, 405, 405),
    'community/sensitive-words/rules/': (405, 405, 405, 405, 405),
    'community/sensitive-words/rules/<int:rule_id>/delete/': (405, 405, 405, 405, 405),
    'customers/': (200, 200, 200, 200, 200),
    'customers/<int:customer_id>/': (200, 200, 200, 200, 403),
    'customers/<int:customer_id>/consent/': (405, 405, 405, 405, 405),
    'customers/<int:customer_id>/identity/': (405, 405, 405, 405, 405),
    'customers/<int:customer_id>/notes/': (405, 405, 405, 405, 405),
    'customers/<int:customer_id>/owner/': (405, 405, 405, 405, 405),
    'customers/<int:customer_id>/tags/': (405, 405, 405, 405, 405),
    'customers/bulk-tags/': (405, 405, 405, 405, 405),
    'engagement/channels/': (200, 403, 403, 403, 403),
    'engagement/content/': (200, 200, 200, 200, 200),
    'engagement/content/materials/': (405, 405, 405, 405, 405),
    'engagement/content/materials/<int:material_id>/archive/': (405, 405, 405, 405, 405),
    'engagement/content/materials/<int:material_id>/image/': (403, 403, 403, 403, 403),
    'engagement/content/scripts/': (405, 405, 405, 405, 405),
    'engagement/content/scripts/<int:script_id>/archive/': (405, 405, 405, 405, 405),
    'engagement/journeys/': (200, 200, 403, 403, 403),
    'engagement/journeys/<int:journey_id>/': (404, 404, 403, 403, 403),
    'engagement/journeys/<int:journey_id>/edit/': (404, 404, 403, 403, 403),
    'engagement/journeys/<int:journey_id>/lift/': (404, 404, 403, 403, 403),
    'engagement/journeys/<int:journey_id>/step-fields/': (404, 404, 403, 403, 403),
    'engagement/journeys/new/': (200, 200, 403, 403, 403),
    'engagement/outbox/': (200, 200, 403, 403, 403),
    'engagement/policy/': (200, 200, 403, 403, 403),
    'engagement/sms/<str:provider>/<str:token>/<str:kind>/': (405, 405, 405, 405, 405),
    'engagement/tasks/': (200, 200, 200, 200, 200),
    'engagement/tasks/<int:task_id>/complete/': (405, 405, 405, 405, 405),
    'engagement/tasks/batches/<int:batch_id>/cancel/': (405, 405, 405, 405, 405),
    'engagement/tasks/new/': (405, 405, 405, 405, 405),
    'engagement/tasks/reassign/': (405, 405, 405, 405, 405),
    'engagement/tasks/report/': (200, 200, 200, 403, 200),
    'engagement/wecom/callback/': (404, 404, 404, 404, 404),
    'engagement/wecom/customers/<int:customer_id>/tag/': (405, 405, 405, 405, 405),
    'engagement/wecom/customers/<int:customer_id>/transfer/': (405, 405, 405, 405, 405),
    'engagement/wecom/sync/': (405, 405, 405, 405, 405),
    'identity/decide-rule/': (405, 405, 405, 405, 405),
    'identity/decide/': (405, 405, 405, 405, 405),
    'identity/quarantine/': (200, 200, 403, 403, 403),
    'identity/review/': (200, 200, 403, 403, 403),
    'import/': (200, 200, 403, 403, 403),
    'import/resolve/': (405, 405, 405, 405, 405),
    'jobs/': (200, 200, 403, 403, 403),
    'jobs/<uuid:job_id>/': (404, 404, 403, 403, 403),
    'jobs/<uuid:job_id>/progress/': (404, 404, 403, 403, 403),
    'jobs/<uuid:job_id>/rejected.csv': (404, 404, 403, 403, 403),
    'login/': (302, 302, 302, 302, 302),
    'logout/': (405, 405, 405, 405, 405),
    'loyalty/checkin/': (200, 200, 403, 403, 403),
    'loyalty/checkin/rules/<int:rule_id>/': (404, 404, 403, 403, 403),
    'loyalty/coupons/': (200, 200, 200, 403, 200),
    'loyalty/coupons/<int:template_id>/': (404, 404, 404, 403, 404),
    'loyalty/coupons/<int:template_id>/edit/': (404, 404, 403, 403, 403),
    'loyalty/coupons/<int:template_id>/issue/': (405, 405, 405, 405, 405),
    'loyalty/coupons/lookup/': (200, 200, 200, 403, 200),
    'loyalty/coupons/lookup/void/': (405, 405, 405, 405, 405),
    'loyalty/coupons/new/': (200, 200, 403, 403, 403),
    'loyalty/earning/': (200, 200, 200, 200, 200),
    'loyalty/mall/': (200, 200, 200, 403, 200),
    'loyalty/mall/fulfilment.csv': (200, 200, 200, 403, 200),
    'loyalty/mall/fulfilment.xlsx': (200, 200, 200, 403, 200),
    'loyalty/mall/items/<int:item_id>/': (404, 404, 404, 403, 404),
    'loyalty/mall/redemptions/': (200, 200, 200, 403, 200),
    'loyalty/mall/redemptions/<int:redemption_id>/change/': (302, 302, 302, 403, 302),
    'loyalty/points/': (200, 200, 200, 403, 200),
    'loyalty/points/customers/<int:customer_id>/': (200, 200, 200, 200, 403),
    'loyalty/points/customers/<int:customer_id>/adjust/': (302, 302, 302, 302, 302),
    'loyalty/tiers/': (200, 200, 200, 200, 200),
    'predictions/': (200, 200, 403, 403, 403),
    'privacy/requests/': (200, 200, 403, 403, 403),
    'privacy/requests/<int:request_id>/': (404, 404, 403, 403, 403),
    'privacy/requests/<int:request_id>/copy/': (405, 405, 405, 405, 405),
    'privacy/requests/<int:request_id>/correct/': (405, 405, 405, 405, 405),
    'privacy/requests/<int:request_id>/move/': (405, 405, 405, 405, 405),
    'privacy/requests/new/': (200, 200, 200, 200, 200),
    'segments/': (200, 200, 403, 403, 403),
    'segments/<int:segment_id>/': (404, 404, 403, 403, 403),
    'segments/<int:segment_id>/delete/': (405, 405, 405, 405, 405),
    'segments/<int:segment_id>/edit/': (404, 404, 403, 403, 403),
    'segments/<int:segment_id>/export/': (404, 404, 403, 403, 403),
    'segments/<int:segment_id>/refresh/': (405, 405, 405, 405, 405),
    'segments/new/': (200, 200, 403, 403, 403),
    'segments/preview/': (405, 405, 405, 405, 405),
    'segments/schedule/': (405, 405, 405, 405, 405),
    'settings/api-tokens/': (200, 403, 403, 403, 403),
    'settings/api-tokens/<int:token_id>/revoke/': (405, 405, 405, 405, 405),
    'settings/integrations/': (200, 403, 403, 403, 403),
    'settings/integrations/<int:subscription_id>/': (404, 403, 403, 403, 403),
    'settings/integrations/<int:subscription_id>/do/': (405, 405, 405, 405, 405),
    'settings/integrations/deliveries/<int:delivery_id>/redeliver/': (405, 405, 405, 405, 405),
    'surveys/': (200, 200, 403, 403, 403),
    'surveys/<int:survey_id>/': (404, 404, 403, 403, 403),
    'surveys/<int:survey_id>/persona/': (404, 404, 403, 403, 403),
    'surveys/<int:survey_id>/persona/export/': (404, 404, 403, 403, 403),
    'surveys/<int:survey_id>/questions/<int:number>/': (404, 404, 404, 404, 404),
    'surveys/<int:survey_id>/questions/<int:number>/delete/': (405, 405, 405, 405, 405),
    'surveys/<int:survey_id>/questions/new/': (404, 404, 404, 404, 404),
    'surveys/<int:survey_id>/results/': (404, 404, 403, 403, 403),
    'surveys/attributes/': (200, 200, 403, 403, 403),
}


def fill(path: str) -> str:
    def value(match):
        name = match[1].split(":")[-1]
        return PATH_VALUES.get(name, "1")

    return re.sub(r"[{<]([^}>]+)[}>]", value, path)


def api_operations() -> list[tuple[str, str, str | None]]:
    """(METHOD, path, area) of every operation the API serves, as mounted (siyu.api.api.mount)."""
    api.get_openapi_schema()  # binds the routers
    operations = []
    for bound in api._get_bound_routers():
        for path, path_view in bound.path_operations.items():
            for operation in path_view.operations:
                area = next((c.area for c in operation.auth_callbacks if hasattr(c, "area")), None)
                for method in operation.methods:
                    operations.append((method, "/api" + bound.prefix + path, area))
    return sorted(operations)


def write_operations() -> list[tuple[str, str, frozenset[str] | None]]:
    """(METHOD, path, the roles it declares or None) of every write operation the API serves."""
    api.get_openapi_schema()
    operations = []
    for bound in api._get_bound_routers():
        for path, path_view in bound.path_operations.items():
            for operation in path_view.operations:
                for method in set(operation.methods) & set(WRITES):
                    operations.append((method, "/api" + bound.prefix + path, declared_roles(operation.view_func)))
    return sorted(operations, key=lambda o: o[:2])


def call(client: Client, method: str, path: str, nul: bool = False):
    """One request to the route; with `nul`, a NUL character in a query parameter and in the JSON body."""
    url = fill(path) + ("?nul=a%00b" if nul else "")
    if method in ("GET", "HEAD"):
        return client.generic(method, url)
    body = NUL_BODY if nul else json.dumps({}) if method != "DELETE" else ""
    return client.generic(method, url, data=body, content_type="application/json",
                          headers={"Idempotency-Key": f"rbac-{method}-{url}"})  # fmt: skip


def console_paths() -> list[str]:
    """Every URL pattern in the console's namespace (its included apps' too)."""

    def walk(resolver, prefix, namespace):
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern, prefix + str(pattern.pattern), pattern.namespace or namespace)
            elif namespace == "console" and isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    return sorted(set(walk(get_resolver(), "", None)))


OUTSIDE_AREAS = {"/api/tokens", "/api/tokens/{int:token_id}/revoke"}


def other_area(area: str | None) -> str:
    return "customers" if area != "customers" else "privacy"


@pytest.fixture
def brand(warehouse):
    return make_brand(warehouse)


def test_every_api_route_refuses_no_token_an_expired_token_and_a_token_without_its_scope(brand):
    anonymous = Client()
    expired = create_token(brand.admin, "expired", expires_in=dt.timedelta(hours=1))
    from siyu.api.models import ApiToken

    ApiToken.objects.filter(name="expired").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    expired_client = Client(headers={"Authorization": f"Bearer {expired}"})
    unscoped = {area: Client(headers={"Authorization": f"Bearer {create_token(brand.admin, str(area), scopes=[f'{other_area(area)}:write'])}"})
                for area in [*AREAS, None]}  # fmt: skip
    operations = api_operations()
    assert len(operations) > 150
    # outside every area (a console session or a `*` token only): the API tokens, so that a token limited
    # to some areas cannot mint a wider one
    outside = {p for m, p, area in operations if area is None}
    assert outside == OUTSIDE_AREAS, "mount every router with siyu.api.api.mount(area, router)"
    wrong = []
    for method, path, area in operations:
        for who, client, expected, nul in (
            ("anonymous", anonymous, 401, False),
            ("expired", expired_client, 401, False),
            ("no scope", unscoped[area], 403, False),
            ("anonymous, a NUL", anonymous, 401, True),
            ("no scope, a NUL", unscoped[area], 403, True),
        ):
            status = call(client, method, path, nul=nul).status_code
            if status != expected:
                wrong.append(f"{method} {path} {who}: {status}, expected {expected}")
    assert wrong == []


def test_every_api_route_refuses_a_nul_character_once_the_caller_is_admitted(brand):
    """The admin (every role, a token with every scope) passes the authentication of every route; then a NUL
    character in a query parameter or the JSON body is a 422 naming where it is (siyu.api.auth), before
    the route parses the body or asks the database."""
    token = create_token(brand.admin, "nul")
    admin = Client(raise_request_exception=False, headers={"Authorization": f"Bearer {token}"})
    message = "文字中不能含有空字符（NUL）。"
    wrong = []
    for method, path, _area in api_operations():
        answer = call(admin, method, path, nul=True)
        where = [["query", "nul"]] if method in ("GET", "HEAD") else [["query", "nul"], ["body"]]
        expected = {"detail": [{"loc": loc, "msg": message, "type": "value_error"} for loc in where]}
        if answer.status_code != 422 or answer.json() != expected:
            wrong.append(f"{method} {path}: {answer.status_code} {answer.content[:200]!r}")
    assert wrong == []


def test_the_api_matrix_of_roles(brand):
    clients = {role: Client(raise_request_exception=False,
                             headers={"Authorization": f"Bearer {create_token(getattr(brand, ROLE_USERS[role]), role)}"})
               for role in ROLES}  # fmt: skip
    observed = {}
    for method, path, _area in api_operations():
        observed[(method, path)] = tuple(call(clients[role], method, path).status_code for role in ROLES)
    if os.environ.get("RBAC_MATRIX_PRINT"):
        for key, row in observed.items():
            print(f"    {key!r}: {row!r},")
    assert [key for key, row in observed.items() if 500 in row] == [], "a permission check must never end in a 500"
    missing = sorted(set(observed) - set(API_MATRIX))
    assert missing == [], "add these routes to API_MATRIX (RBAC_MATRIX_PRINT=1 prints the observed rows)"
    differences = {key: (API_MATRIX[key], row) for key, row in observed.items() if API_MATRIX[key] != row}
    assert differences == {}, "expected (admin, operator, manager, guide, other_manager) vs observed"


def test_the_console_matrix_of_roles(brand):
    clients = {}
    for role in ROLES:
        clients[role] = Client(raise_request_exception=False)
        clients[role].force_login(getattr(brand, ROLE_USERS[role]))
    anonymous = Client()
    observed, not_to_login = {}, []
    for path in console_paths():
        url = "/" + fill(path)
        if path not in PUBLIC_CONSOLE:
            answer = anonymous.get(url)
            to_login = answer.status_code == 302 and "/login/" in answer["Location"]
            if not to_login and answer.status_code != 405:  # a POST-only view refuses the method first
                not_to_login.append(f"{path}: {answer.status_code}")
        observed[path] = tuple(clients[role].get(url).status_code for role in ROLES)
    if os.environ.get("RBAC_MATRIX_PRINT"):
        for key, row in observed.items():
            print(f"    {key!r}: {row!r},")
    assert not_to_login == []
    assert [key for key, row in observed.items() if 500 in row] == [], "a page must never end in a 500"
    missing = sorted(set(observed) - set(CONSOLE_MATRIX))
    assert missing == [], "add these pages to CONSOLE_MATRIX (RBAC_MATRIX_PRINT=1 prints the observed rows)"
    differences = {key: (CONSOLE_MATRIX[key], row) for key, row in observed.items() if CONSOLE_MATRIX[key] != row}
    assert differences == {}, "expected (admin, operator, manager, guide, other_manager) vs observed"


def test_every_write_route_declares_its_roles_unless_open_to_every_role():
    undeclared = {(method, path) for method, path, roles in write_operations() if roles is None}
    assert sorted(undeclared - OPEN_WRITES) == [], "declare the route's roles with @roles (siyu.staff.roles)"
    assert sorted(OPEN_WRITES - undeclared) == [], "a route of OPEN_WRITES declares roles, or is gone"


def test_a_denied_role_gets_403_on_every_write_route_whatever_the_body(brand):
    """The role is checked with the token (or the session), before the body is read: an empty, broken or
    wrongly shaped body gets 403 in words, never a 422 that shows a guide or another store's manager the
    shape of an operators' route."""
    users = {role: getattr(brand, ROLE_USERS[role]) for role in ROLES}
    clients = {role: Client(raise_request_exception=False,
                            headers={"Authorization": f"Bearer {create_token(users[role], role)}"})
               for role in ROLES}  # fmt: skip
    session = Client(raise_request_exception=False)
    session.force_login(brand.guide1)
    wrong, checked = [], 0
    for method, path, roles in write_operations():
        if roles is None:
            continue
        url = fill(path)
        denied = [(role, clients[role]) for role in ROLES if not has_role(users[role], roles)]
        if not has_role(brand.guide1, roles):
            denied.append(("guide (console session)", session))
        for who, client in denied:
            for body in BAD_BODIES:
                answer = client.generic(method, url, data=body, content_type="application/json",
                                        headers={"Idempotency-Key": f"denied-{who}-{method}-{url}-{body}"})  # fmt: skip
                checked += 1
                detail = answer.json().get("detail", "") if answer.status_code == 403 else ""
                if answer.status_code != 403 or "只有" not in detail:
                    wrong.append(f"{method} {path} {who} {body!r}: {answer.status_code} {detail}")
    assert checked > 500
    assert wrong == []
