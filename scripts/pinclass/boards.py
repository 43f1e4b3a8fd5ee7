"""Reading a user's board information: the one place that knows the crawl's metadata format.

The crawl stores {"<board folder>": {"category": "<slug>", ...}} in <user>/boards.json, or, where
that is absent, {"category": "<slug>", ...} in <user>/<board>/board.json. Replace this module if a
crawl describes its boards differently.
"""

import json
from pathlib import Path

USER_BOARDS_FILE = "boards.json"
BOARD_FILE = "board.json"


def _load_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def board_categories(user_dir: Path, board_names: list[str]) -> tuple[dict, list[dict]]:
    """Map each board folder name to its category (None when unknown), plus the problems met.

    Problems are dicts {"file", "problem"}; they never raise, so one bad file costs only its boards.
    """
    problems = []
    from_user_file = {}
    user_file = user_dir / USER_BOARDS_FILE
    if user_file.is_file():
        try:
            data = _load_json(user_file)
            if not isinstance(data, dict):
                raise ValueError(f"expected an object of boards, got {type(data).__name__}")
            from_user_file = data
        except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            problems.append({"file": str(user_file), "problem": f"malformed: {error}"})

    categories = {}
    for board in board_names:
        info = from_user_file.get(board)
        board_file = user_dir / board / BOARD_FILE
        if info is None and board_file.is_file():
            try:
                info = _load_json(board_file)
            except (OSError, ValueError) as error:
                problems.append({"file": str(board_file), "problem": f"malformed: {error}"})
        category = info.get("category") if isinstance(info, dict) else None
        categories[board] = category if isinstance(category, str) and category else None
    return categories, problems
