"""Which epoch of a training history is kept: the rule training's early stopping follows
(training.KeepBest) and the study's report reads back, without TensorFlow."""


def improves(monitor: str, value: float, best: float | None) -> bool:
    """Whether `value` of `monitor` beats the best so far: lower for a loss, higher otherwise."""
    return best is None or (value < best if monitor.endswith("loss") else value > best)


def kept_epoch(history: list[dict[str, float]], monitor: str) -> int:
    """The epoch `KeepBest` keeps of a history: the first at the best `monitor` value."""
    best: dict[str, float] | None = None
    for row in history:
        if improves(monitor, row[monitor], None if best is None else best[monitor]):
            best = row
    if best is None:
        raise ValueError(f"The history has no epoch: nothing kept on {monitor}")
    return int(best["epoch"])
