from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "siyu.members"
    label = "members"

    def ready(self):
        from siyu.engagement.content.scripts import register_customer_variable
        from siyu.members import actions
        from siyu.members.links import member_links
        from siyu.privacy.erasure import register_person_eraser

        # {member_link} in a message: the recipient's one-click sign-in link (filled at delivery)
        register_customer_variable("member_link", "会员中心一键登录链接", member_links)
        # erasure of a person (PIPL art. 47): their SMS codes and the addresses they signed in from
        register_person_eraser("members", "会员中心（短信验证码、登录地址）", actions.erase_person, actions.erasure_leftovers)
