"""The label contract, in one place: a label's code is its position; every model outputs P(dog)."""

LABELS = ("cat", "dog")
LABEL_CODES = {name: code for code, name in enumerate(LABELS)}
