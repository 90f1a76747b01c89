"""WeCom's error answer, shared by the parts of the fake WeCom server."""


def wecom_error(code: int, message: str) -> tuple[int, dict, dict]:
    return 200, {}, {"errcode": code, "errmsg": message}
