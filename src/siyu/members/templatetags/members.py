from django import template

from siyu.members.nav import nav_items

register = template.Library()


@register.simple_tag
def member_nav():
    return nav_items()


@register.filter
def get_answer(mapping, key):
    """mapping[key] for a question's answer (keys are question ids, as text in posted answers)."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(str(key), mapping.get(key))
