from django import template

from siyu.members.nav import nav_items

register = template.Library()


@register.simple_tag
def member_nav():
    return nav_items()
