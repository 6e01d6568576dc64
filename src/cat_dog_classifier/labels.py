"""The label contract, in one place: a label's code is its position in `LABELS` (then `NEITHER`).

Every model outputs P(dog), the probability of LABELS[1]; a model with the third answer also
outputs `neither_score`, high for photos of neither a cat nor a dog.
"""

LABELS = ("cat", "dog")
NEITHER = "neither"  # photos of other things: ingested and split apart, never trained as pets
LABEL_CODES = {name: code for code, name in enumerate((*LABELS, NEITHER))}
