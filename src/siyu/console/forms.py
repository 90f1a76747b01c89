from __future__ import annotations

import re
from pathlib import PurePath

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from siyu.customers.labels import CONSENT_CHANNELS as CONSENT_CHANNEL_WORDS
from siyu.customers.queries import CONSENT_CHANNELS
from siyu.ingest.labels import FORMATS
from siyu.staff.models import Role

ALLOWED_EXTENSIONS = (".csv", ".xlsx", ".xls")
SOURCE_NAME = re.compile(r"^[\w.\-]{1,64}$")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            if not data and self.required:  # the browser sent no file Django could name (e.g. only `../`)
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class ImportForm(forms.Form):
    files = MultipleFileField(
        label=_("Files"),
        error_messages={"required": _("Choose at least one file to import: no file with a usable name was sent.")},
        help_text=_("One or more channel exports: CSV, XLSX or XLS."),
        widget=MultipleFileInput(attrs={"accept": ",".join(ALLOWED_EXTENSIONS)}),
    )
    source = forms.CharField(
        label=_("Source name"),
        max_length=64,
        help_text=_("Names the channel these files come from, without spaces, e.g. 天猫旗舰店 or StorePOS."),
    )
    format = forms.ChoiceField(label=_("Format"), choices=list(FORMATS.items()), initial="auto")
    mapping = forms.CharField(
        label=_("Column mapping (optional)"),
        required=False,
        # written in the mapping's own language (field names, id:<type>), not translated
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "会员卡号=id:member_no\n手机=phone", "translate": "no"}
        ),
        help_text=_("One COLUMN=FIELD per line, for columns the format does not know."),
    )

    def clean_files(self):
        files = self.cleaned_data["files"]
        for upload in files:
            if PurePath(upload.name).suffix.lower() not in ALLOWED_EXTENSIONS:
                raise forms.ValidationError(
                    _("%(name)s is not a CSV, XLSX or XLS file."), params={"name": upload.name}
                )
        return files

    def clean_source(self):
        source = self.cleaned_data["source"].strip()
        if not SOURCE_NAME.match(source):
            raise forms.ValidationError(_("Use letters, digits, dots, dashes or underscores (no spaces)."))
        return source

    def clean_mapping(self):
        mapping = {}
        for line in self.cleaned_data.get("mapping", "").splitlines():
            line = line.strip()
            if not line:
                continue
            column, sep, field = line.partition("=")
            if not sep or not column.strip() or not field.strip():
                raise forms.ValidationError(
                    _("Write each mapping as COLUMN=FIELD: %(line)s"), params={"line": line}
                )
            mapping[column.strip()] = field.strip()
        return mapping


class BulkTagForm(forms.Form):
    customer_ids = forms.TypedMultipleChoiceField(coerce=int, choices=(), required=True)
    tag = forms.CharField(max_length=100)
    op = forms.ChoiceField(choices=[("add", "add"), ("remove", "remove")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any integer is accepted here; the customers actions check the user may touch each customer.
        values = self.data.getlist("customer_ids") if hasattr(self.data, "getlist") else []
        self.fields["customer_ids"].choices = [(v, v) for v in values]

    def clean_customer_ids(self):
        ids = self.cleaned_data["customer_ids"]
        if len(ids) > 1000:
            raise forms.ValidationError(_("Select at most 1,000 customers at a time."))
        return ids


class TagForm(forms.Form):
    tag = forms.CharField(label=_("Tag"), max_length=200)  # a name, a 组名:标签 label or (to remove) a tag id
    label = forms.CharField(required=False, max_length=200)
    op = forms.ChoiceField(choices=[("add", "add"), ("remove", "remove")], initial="add")


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))


def _consent_channel_choices():  # called when the form is built: the words follow the language
    return [(c, CONSENT_CHANNEL_WORDS.get(c, c)) for c in CONSENT_CHANNELS]


class ConsentForm(forms.Form):
    """A consent or opt-out staff record on the customer's behalf (siyu.customers.actions.record_consent)."""

    channel = forms.ChoiceField(label=_("Channel"), choices=_consent_channel_choices)
    status = forms.ChoiceField(
        label=_("Choice"), choices=[("opt_out", _("Do not disturb")), ("opt_in", _("Opted in"))]
    )
    source = forms.CharField(label=_("Where the customer said so"), max_length=100)


class OwnerForm(forms.Form):
    owner = forms.ModelChoiceField(
        label=_("Owner guide"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=_("— nobody —"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = (
            get_user_model()
            .objects.filter(is_active=True, staff__role__in=[Role.GUIDE, Role.MANAGER])
            .order_by("username")
        )
        self.fields["owner"].label_from_instance = lambda user: (
            getattr(getattr(user, "staff", None), "display_name", "") or user.get_username()
        )
