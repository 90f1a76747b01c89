"""The member centre (会员中心): the mobile web pages a customer opens from a WeCom message, an SMS or a QR
code, and member sign-in (WeChat official-account web authorisation, SMS one-time codes, signed links). The
top domain: it composes loyalty, surveys, customers' consent and privacy requests."""
