from siyu.core.errors import NotFound, SiyuError


class SurveyError(SiyuError):
    """A survey cannot be made, changed or answered as asked (the message says why, in the active language)."""


class SurveyNotFound(SurveyError, NotFound):
    """No survey with that id."""


class AlreadyAnswered(SurveyError):
    """The member has answered a survey that takes one response per member."""
