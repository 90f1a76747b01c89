from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "siyu.members"
    label = "members"

    def ready(self):
        from siyu.engagement.content.scripts import register_customer_variable
        from siyu.members.links import member_links

        # {member_link} in a message: the recipient's one-click sign-in link (filled at delivery)
        register_customer_variable("member_link", "会员中心一键登录链接", member_links)
