"""The admin site edits computed tags and stage sets with the same checks as the API and the actions."""

from django import forms
from django.contrib import admin

from siyu.segments.actions import checked_computed_tag, checked_stage_set
from siyu.segments.errors import RuleError
from siyu.segments.models import ComputedTag, StageSet


class ComputedTagForm(forms.ModelForm):
    class Meta:
        model = ComputedTag
        fields = ("name", "description", "rule", "active")

    def clean(self):
        cleaned = super().clean()
        try:
            cleaned["name"], cleaned["rule"] = checked_computed_tag(cleaned.get("name"), cleaned.get("rule"))
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned


class StageSetForm(forms.ModelForm):
    class Meta:
        model = StageSet
        fields = ("name", "label", "stages", "default_stage", "active")

    def clean(self):
        cleaned = super().clean()
        try:
            cleaned["name"], cleaned["stages"] = checked_stage_set(
                cleaned.get("name"), cleaned.get("stages"), cleaned.get("default_stage", "")
            )
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned


@admin.register(ComputedTag)
class ComputedTagAdmin(admin.ModelAdmin):
    form = ComputedTagForm
    list_display = ("name", "description", "active", "updated_at")


@admin.register(StageSet)
class StageSetAdmin(admin.ModelAdmin):
    form = StageSetForm
    list_display = ("name", "label", "default_stage", "active", "updated_at")
