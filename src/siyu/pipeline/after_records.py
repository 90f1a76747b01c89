"""The chain after new records, in one place: resolve → control-plane sync (and adds through live codes
linked to their customers) → points for new purchases (and tiers) → loyalty and surveys mirrored into the warehouse →
traits → predictions → segments refreshed "after every resolve" → a journey tick. This module is the only one
that knows the order of the steps; no domain calls the next one, and no domain imports this module. The resolve job and the WeCom
contact sync both end here (their runners are registered by siyu.pipeline.apps)."""

from __future__ import annotations

import logging

from siyu.acquisition import actions as acquisition_actions
from siyu.community.groups import actions as group_actions
from siyu.core.errors import SiyuError
from siyu.customers import actions as customer_actions
from siyu.engagement.journeys import actions as journey_actions
from siyu.engagement.messaging import channel_actions
from siyu.engagement.messaging.channels.base import ProviderError
from siyu.identity import actions as identity_actions
from siyu.identity.probabilistic import MatchSettings
from siyu.loyalty import mirror as loyalty_mirror
from siyu.loyalty.earning import actions as earning_actions
from siyu.loyalty.points import actions as points_actions
from siyu.segments import actions as segment_actions
from siyu.segments import prediction_actions
from siyu.segments.models import Segment
from siyu.surveys import mirror as surveys_mirror

log = logging.getLogger(__name__)


def _reported(step: str, run, *args, **kwargs) -> dict:
    """Run a step that follows a committed resolve: a failure is reported in the job's result (the
    resolution stands) instead of failing the job."""
    try:
        return run(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the resolve succeeded; say what went wrong with this step
        log.exception("%s after resolve failed", step)
        return {"error": f"{type(exc).__name__}: {exc}"}


def refresh_after_resolve(progress=None) -> dict:
    """Traits, then predictions (from the traits), then the segments refreshed after every resolve."""
    traits = segment_actions.refresh_traits(progress=progress)
    report = {k: traits[k] for k in ("as_of", "customers", "buyers_in_window", "seconds")}
    report["predictions"] = prediction_actions.refresh_predictions_after_traits()
    report["segments"] = segment_actions.refresh_segments(Segment.Refresh.AFTER_RESOLVE)
    return report


def follow_resolve(resolved, progress) -> dict:
    """What follows a committed resolve: the tags and owner guides the files carried reach the control
    plane (and merges move its state), then traits, predictions and segments are refreshed, then journeys
    tick last (their triggers read the new orders and events, and the refreshed segments)."""
    if progress is not None:
        progress(resolved.customers, resolved.customers, "syncing tags and owners")
    synced = customer_actions.sync_from_warehouse(resolved.refreshed_customers)
    return {
        "control_plane": {
            **customer_actions.follow_merges(resolved.run_id),
            **points_actions.follow_merges(resolved.run_id),
            **synced,
        },
        "live_code_adds_linked": acquisition_actions.link_adds_to_customers(),
        "loyalty": _reported("earning points", earning_actions.earn_for_orders, progress=progress),
        # loyalty's rows reach the warehouse before segments (loyalty conditions) and journeys (its triggers)
        "loyalty_mirror": _reported("mirroring loyalty", loyalty_mirror.mirror_loyalty),
        "surveys_mirror": _reported("mirroring surveys", surveys_mirror.mirror_surveys),
        "traits": _reported("refreshing traits", refresh_after_resolve, progress),
        "journeys": _reported("running journeys", journey_actions.run_journeys),
    }


def resolve_and_follow(progress, *, match: MatchSettings | None = None, full: bool = False) -> dict:
    resolved = identity_actions.resolve_identities(progress, match=match, full=full)
    return {**resolved.as_dict(), **follow_resolve(resolved, progress)}


def run_resolve_job(job, progress) -> dict:
    """Job runner for kind "resolve" (params: match settings, full)."""
    params = job.params or {}
    match = MatchSettings.from_settings(**params.get("match", {}))
    return resolve_and_follow(progress, match=match, full=bool(params.get("full")))


def _resolve_new_contacts(report: dict, progress) -> dict:
    if report.get("records_new"):
        resolved = resolve_and_follow(progress)
        keep = (
            "run_id",
            "customers",
            "new_customers",
            "merges",
            "mode",
            "control_plane",
            "traits",
            "journeys",
        )
        report["resolve"] = {k: resolved[k] for k in keep}
    return report


def _then_groups(report: dict, progress) -> dict:
    """The customer groups, synced after the contacts are resolved so that new members find their
    customers. A group sync WeCom refuses is reported; the contacts stand."""
    try:
        report["groups"] = group_actions.sync_groups(progress)
    except (ProviderError, SiyuError) as exc:
        report["groups"] = {"error": str(exc)}
    return report


def sync_wecom_contacts(progress=None) -> dict:
    """The WeCom contacts land (siyu.engagement.messaging.channel_actions.sync_wecom_contacts); new ones
    are resolved into customers and followed by the chain; then the customer groups."""
    return _then_groups(_resolve_new_contacts(channel_actions.sync_wecom_contacts(progress), progress), progress)


def run_wecom_sync_job(job, progress) -> dict:
    """Job runner for kind "wecom_sync": the sync as a job runs it (it schedules the next one), then what
    follows new records, then the customer groups."""
    return _then_groups(_resolve_new_contacts(channel_actions.run_wecom_sync(progress), progress), progress)
