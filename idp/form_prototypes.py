"""Forms built from their class's bound fields, kept once (issue 11).

WTForms builds a form afresh on every request: ``BaseForm.__init__`` binds each field
(``UnboundField.bind`` merges the keyword arguments, ``Field.__init__`` checks the
validators, builds the flags, the label, the name and the id), about 150 Python calls
for the sign-in form with its CSRF field. What binding makes depends only on the form
class, the field, the options the form passes (name, prefix, translations) and, for a
field without a label, the language of the moment (its label is translated at
binding). So the first form of a class is built by WTForms, and what each of its fields
held after binding (before any data) is kept; later forms of the class, made the
ordinary way (``Form()``: the request's data, no prefix, object or meta), get their
own copy of each field, with their own form, meta, flags, label and attributes: the
objects ``Field.__init__`` makes per field. What a copy shares with the kept field
(validators, filters, widget, translations) WTForms shares between the fields of every
form of the class too. Data is processed by WTForms (``BaseForm.process``), unchanged.

Only fields whose class makes nothing else of its own (:data:`COPIED`) are kept, and
only when a label is given; anything else builds the WTForms way.
``tests/perf/test_form_prototypes.py`` compares each form and field with WTForms' own,
attribute by attribute, in both languages.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from wtforms import BooleanField, EmailField, Field, HiddenField, PasswordField, StringField
from wtforms.csrf.core import CSRFTokenField
from wtforms.fields.core import Flags, Label, UnboundField

# The field classes whose ``__init__`` makes no object of its own besides ``Field``'s
# (a RadioField copies its choices, a FormField builds a form, a datalist is cloned).
COPIED = frozenset({StringField, PasswordField, EmailField, HiddenField, BooleanField,
                    CSRFTokenField})
PER_FORM = frozenset({"_form", "meta", "csrf_impl"})  # set on every copy, never kept
MAX_PROTOTYPES = 128  # one per (form class, translations, CSRF field)

Kept = tuple[tuple[str, type[Field], dict[str, Any]], ...]  # name, class, state
# With the class's list of unbound fields it was kept for: WTForms makes a new list when
# a field is added to or removed from the class, and the prototype is then not used.
_prototypes: dict[tuple[Any, ...], tuple[Any, Kept]] = {}


def keepable(unbound: UnboundField, options: dict[str, Any]) -> bool:
    """Whether WTForms' binding of ``unbound`` depends only on the form class, the field
    and the options: a field class of :data:`COPIED`, a label given (not translated at
    binding), no datalist, the options a form without prefix passes."""
    kwargs = unbound.kwargs
    label = unbound.args[0] if unbound.args else kwargs.get("label")
    return (unbound.field_class in COPIED and label is not None and len(unbound.args) <= 1
            and unbound.name is None and kwargs.get("datalist") is None
            and not options.get("prefix") and set(options) == {"name", "prefix", "translations"})


def kept_state(field: Field) -> dict[str, Any]:
    """What a field holds after binding, less what belongs to its form."""
    return {k: v for k, v in vars(field).items() if k not in PER_FORM}


def copy_field(state: dict[str, Any], field_class: type[Field], form: Any,
               csrf_impl: Any = None) -> Field:
    """A field as ``Field.__init__`` would make it for ``form``, from a kept state."""
    field: Field = object.__new__(field_class)
    mine = state.copy()
    mine["_form"] = form
    mine["meta"] = form.meta
    if csrf_impl is not None:
        mine["csrf_impl"] = csrf_impl
    flags = object.__new__(Flags)
    flags.__dict__ = state["flags"].__dict__.copy()
    mine["flags"] = flags
    label = state["label"]
    mine["label"] = Label(label.field_id, label.text)
    if state["render_kw"] is not None:
        mine["render_kw"] = state["render_kw"].copy()
    field.__dict__ = mine
    return field


def _key(form: Any, translations: Any, csrf_field: str | None) -> tuple[Any, ...]:
    return (type(form), translations, csrf_field)


def build(form: Any) -> bool:
    """Bind ``form``'s fields from its class's prototype, as ``BaseForm.__init__`` and
    ``Form.__init__`` bind them. False (nothing done) when there is none yet."""
    meta = type(form)._wtforms_meta()
    form.meta = meta
    translations = meta.get_translations(form)
    extra: list[tuple[str, UnboundField]] = []
    if meta.csrf:
        form._csrf = meta.build_csrf(form)
        extra = form._csrf.setup_form(form)
    if len(extra) > 1:
        return False
    csrf_field = extra[0][0] if extra else None
    try:
        entry = _prototypes.get(_key(form, translations, csrf_field))
    except TypeError:  # translations that cannot be a key: WTForms binds
        return False
    if entry is None or entry[0] is not type(form)._unbound_fields:
        return False
    kept = entry[1]
    form._parent_form = getattr(meta, "_parent_form", None)
    form._form_error_key = ""
    form._prefix = ""
    fields: OrderedDict[str, Field] = OrderedDict()
    for name, field_class, state in kept:
        fields[name] = copy_field(state, field_class, form,
                                  form._csrf if name == csrf_field else None)
    form._fields = fields
    form.form_errors = []
    form.__dict__.update(fields)  # as ``Form.__init__``'s setattr of each field
    return True


def keep(form: Any, states: dict[str, dict[str, Any]], translations: Any) -> None:
    """Keep the prototype of a form WTForms just bound without prefix, given the states
    of the fields that could be kept (:func:`keepable`) and the translations they were
    bound with: only when every field could."""
    if len(_prototypes) >= MAX_PROTOTYPES or set(states) != set(form._fields):
        return
    csrf = getattr(form, "_csrf", None) if form.meta.csrf else None
    csrf_fields = [name for name, field in form._fields.items()
                   if isinstance(field, CSRFTokenField) and field.csrf_impl is csrf]
    if len(csrf_fields) != (0 if csrf is None else 1):
        return
    kept: Kept = tuple((name, type(field), states[name]) for name, field in form._fields.items())
    try:
        key = _key(form, translations, csrf_fields[0] if csrf_fields else None)
        _prototypes[key] = (type(form)._unbound_fields, kept)
    except TypeError:  # translations that cannot be a key: never kept
        return


class KeepsBoundFields:
    """A form ``Meta`` mixin: as WTForms binds each field, what it holds is noted on the
    meta (per form), for :func:`keep`."""

    def bind_field(self, form: Any, unbound_field: UnboundField, options: dict[str, Any]) -> Field:
        field: Field = super().bind_field(form, unbound_field, options)  # type: ignore[misc]
        if keepable(unbound_field, options):
            noted = self.__dict__.setdefault(NOTED, {})
            noted[options["name"]] = kept_state(field)
            self.__dict__[NOTED_TRANSLATIONS] = options["translations"]
        return field


NOTED = "_clef_bound_fields"
NOTED_TRANSLATIONS = "_clef_bound_translations"


def keep_noted(form: Any) -> None:
    """Keep the prototype of ``form`` from what :class:`KeepsBoundFields` noted."""
    noted = form.meta.__dict__
    keep(form, noted.get(NOTED, {}), noted.get(NOTED_TRANSLATIONS))
