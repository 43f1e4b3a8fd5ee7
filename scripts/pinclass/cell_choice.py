"""The cell that predicts new images when a prediction set asks for `model: best` (rule best_model):
chosen from the cells' score files alone, so that the choice needs no estimator code."""


def best_cell(scores: list[dict]) -> dict:
    """The backbone × classifier cell with the highest cross-validation macro F1 (ties: the first
    given), from the cells' score JSONs: the choice and every candidate's score. Chosen on CV, never
    on test: a choice on test would reuse the test set that reports the chosen cell's score."""
    candidates = {f"{s['backbone']}/{s['classifier']}": s["cv"]["results"][s["cv"]["best_index"]]["mean_macro_f1"]
                  for s in scores}
    if not candidates:
        raise ValueError("no cell to choose from")
    chosen = max(candidates, key=candidates.get)  # the first of equal maxima, in the order given
    return {"cell": chosen, "cv_macro_f1": candidates[chosen], "chosen_on": "cross-validation macro F1",
            "candidates": candidates}
