"""results/summary.md, the page a user reads first: what went in, what came out, and how far to
trust it — gathered from the files that hold each part, not recomputed."""


def _body(markdown: str) -> tuple[str | None, str]:
    """(its first-line note, if any; the rest) of a page the workflow wrote."""
    lines = markdown.strip("\n").splitlines()
    if lines and lines[0].startswith("> **"):
        return lines[0], "\n".join(lines[1:]).strip("\n")
    return None, "\n".join(lines)


def summary_markdown(clean: dict, sample: dict, table: str, leakage: str, comparison: str, boards: str) -> str:
    """clean: clean_summary.json; sample: sample_summary.json; the rest: table.md, leakage.md,
    paper_comparison.md and boards.md as written."""
    note, table_body = _body(table)
    lines = ["# Summary", ""] + ([note, ""] if note else [])
    lines += ["## Data", "",
              f"{clean['files_found']:,} image files found, {clean['clean']:,} kept, {clean['rejected']:,} "
              "rejected (each in `results/manifest/rejected.parquet` with its reason):", "",
              "| reason | images |", "|---|---|"]
    lines += [f"| {reason} | {count:,} |" for reason, count in sorted(clean["rejected_by_reason"].items())]
    conflicts = len(clean.get("duplicate_conflicts", []))
    lines += ["", f"Identical files under different categories (label noise, one copy kept): {conflicts}."]
    near = clean.get("near_duplicates")
    if near:
        rule = near["rule"]
        lines.append(f"Near-duplicate groups (difference hash within {rule['dhash']} bits, DCT hash within "
                     f"{rule['phash']}, mean colour within {rule['colour']} levels of the kept image, and "
                     f"thumbnails at least {rule['similarity']} alike): "
                     f"{near['groups']:,} holding {near['images']:,} images, {near['across_categories']:,} "
                     f"spanning categories; `clean.near_duplicates: {near['mode']}`.")
    categories = sample["categories"]
    images = sum(c["images"] for c in categories.values())
    tests = sum(c["test"] for c in categories.values())
    lines += ["", f"Sample: {images:,} images in {len(categories)} categories, {tests:,} for test, split "
              f"`group_by: {sample['group_by']}`"
              + (f" ({sample['groups']:,} groups, {sample['test_groups']:,} in test)" if "groups" in sample else "")
              + "; categories more than "
              f"{100 * sample['tolerance']:.0f} points off the test share of {sample['test_fraction']:g}: "
              f"{', '.join(sample['outside_tolerance']) or 'none'}; missing from a cross-validation fold: "
              f"{', '.join(sample['missing_from_a_fold']) or 'none'}; without test images: "
              f"{', '.join(sample.get('without_test_images', [])) or 'none'}."]
    if "by_group_size" in sample:
        unit = "user" if sample["group_by"] == "user" else "board"
        lines += ["", f"Test share by {unit} size (sampled images a {unit}; a {unit} larger than its category's "
                  "test quota can only stay in training):", "",
                  f"| {unit} size | {unit}s | images | test {unit}s | test images | test share |", "|---|---|---|---|---|---|"]
        lines += [f"| {b['band']} | {b['groups']:,} | {b['images']:,} | {b['test_groups']:,} | {b['test_images']:,} | "
                  + ("–" if b["test_share"] is None else f"{b['test_share']:.3f}") + " |" for b in sample["by_group_size"]]
        lines.append("")
    if "near_duplicate_test_images" in sample:
        lines.append(f"Test images with a near-duplicate in train: {sample['near_duplicate_test_images']:,}.")
    lines += ["", "## Test macro F1", "", table_body, "",
              "Is the ranking real: `pairwise.md`. Does every number hold: the audit (`results/audit.json`, docs/reproducibility.md).", ""]
    for title, page in (("Near-copies between test and train", leakage), ("Against the paper", comparison),
                        ("Boards", boards)):
        lines += [f"## {title}", "", _body(page)[1], ""]
    return "\n".join(lines).rstrip("\n") + "\n"
