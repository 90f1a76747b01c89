"""Surveys (control plane): a survey's questions and options with their branching and mappings, the
responses members gave (with the traits the warehouse held for them at that moment) and the profile
attributes the answers set.

Branching: an option of a single-choice question may jump to a later question of the same survey
(`jump_to`) or to the end (`ends_survey`); otherwise the next question follows. Jumps only go forward, so a
survey has no cycle (siyu.surveys.actions checks it).

Mappings, declared on the question: `attribute` (a ProfileAttribute: the answer becomes the member's value
of it) and, per option, `tag` (a tag in the question's `tag_group`, added with source "survey")."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ProfileAttribute(models.Model):
    """A profile attribute answers can set (肤质, 年龄段, 兴趣…), declared by an operator."""

    name = models.CharField(max_length=50, unique=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Survey(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        OPEN = "open"
        CLOSED = "closed"

    title = models.CharField(max_length=100)
    intro = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    opens_at = models.DateTimeField(null=True, blank=True)  # None: from the moment it is opened
    closes_at = models.DateTimeField(null=True, blank=True)  # None: until it is closed
    reward_note = models.CharField(max_length=200, blank=True)  # what a member gets for answering, in words
    allow_multiple = models.BooleanField(default=False)  # may a member answer more than once
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.title


class Question(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single"
        MULTIPLE = "multiple"
        SCALE = "scale"
        TEXT = "text"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField()  # 1, 2, 3… the order members see
    kind = models.CharField(max_length=8, choices=Kind.choices)
    text = models.CharField(max_length=300)
    required = models.BooleanField(default=True)
    scale_max = models.PositiveSmallIntegerField(default=5)  # a scale question's N (1…N)
    attribute = models.ForeignKey(
        ProfileAttribute, null=True, blank=True, on_delete=models.PROTECT, related_name="questions"
    )
    tag_group = models.CharField(max_length=100, blank=True)  # the group of the options' tags

    class Meta:
        ordering = ["survey", "position"]
        constraints = [models.UniqueConstraint(fields=["survey", "position"], name="survey_question_position")]

    def __str__(self):
        return f"{self.position}. {self.text}"


class Option(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="options")
    position = models.PositiveIntegerField()
    label = models.CharField(max_length=100)
    tag = models.CharField(max_length=100, blank=True)  # the tag a member who chose it gets
    jump_to = models.ForeignKey(Question, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    ends_survey = models.BooleanField(default=False)

    class Meta:
        ordering = ["question", "position"]
        constraints = [models.UniqueConstraint(fields=["question", "position"], name="survey_option_position")]

    def __str__(self):
        return self.label


class SurveyResponse(models.Model):
    """One submission. `answers`: {question id (text): option id | [option ids] | scale number | text}, only
    the questions on the member's path. `traits`: the member's traits when they answered (may be empty:
    before traits are first computed, or a customer the snapshot does not hold yet). `once`: True when the
    survey allowed one response per member; then at most one such row per member (database constraint)."""

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="responses")
    customer_id = models.BigIntegerField(db_index=True)
    answers = models.JSONField(default=dict)
    traits = models.JSONField(default=dict)
    key = models.CharField(max_length=200, unique=True)
    once = models.BooleanField(default=True)
    submitted_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "customer_id"], condition=Q(once=True), name="survey_response_once"
            )
        ]


class CustomerAttribute(models.Model):
    """A member's current value of a profile attribute and the response it came from."""

    customer_id = models.BigIntegerField()
    attribute = models.ForeignKey(ProfileAttribute, on_delete=models.CASCADE, related_name="values")
    value = models.CharField(max_length=500)
    response = models.ForeignKey(SurveyResponse, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer_id", "attribute"], name="customer_attribute_once")
        ]
