"""The skin survey the survey tests answer, and answers written by question number and option label."""

from __future__ import annotations

# 1 skin type (single; 油性 jumps to 3, 不清楚 ends) → 2 sensitive? (single) → 3 interests (multiple)
# → 4 satisfaction (scale 1–5, optional) → 5 suggestion (text, optional)
SKIN_SURVEY = [
    {"text": "您的肤质是？", "kind": "single", "attribute": "肤质", "tag_group": "肤质",
     "options": [{"label": "干性", "tag": "干皮"}, {"label": "油性", "tag": "油皮", "jump": 3},
                 {"label": "不清楚", "jump": "end"}]},
    {"text": "是否容易过敏？", "kind": "single", "options": [{"label": "是", "tag": "敏感肌"}, {"label": "否"}],
     "tag_group": "肤质"},
    {"text": "您关心哪些功效？", "kind": "multiple", "attribute": "兴趣",
     "options": [{"label": "保湿"}, {"label": "美白", "tag": "关注美白"}, {"label": "抗老"}]},
    {"text": "对我们满意吗？", "kind": "scale", "scale_max": 5, "required": False},
    {"text": "还有什么建议？", "kind": "text", "required": False},
]  # fmt: skip


def answers(survey, by_number: dict) -> dict:
    """{question number: option label | [labels] | number | text} → the answers keyed by question id."""
    out = {}
    for number, value in by_number.items():
        q = survey.q[number]
        if q.kind == "single":
            value = survey.o[(number, value)]
        elif q.kind == "multiple":
            value = [survey.o[(number, v)] for v in value]
        out[str(q.pk)] = value
    return out
