"""Splitting a table's rows among the parallel jobs of one step (clean_shard, extract)."""

import pandas as pd


def shard_rows(table: pd.DataFrame, shard: int, shards: int) -> pd.DataFrame:
    """Contiguous slice `shard` of `shards` of the table's rows."""
    bounds = [len(table) * i // shards for i in range(shards + 1)]
    return table.iloc[bounds[shard]:bounds[shard + 1]]
