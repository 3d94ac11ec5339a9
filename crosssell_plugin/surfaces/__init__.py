"""Where recommendations are shown: :mod:`.serve` (the one seam every block, API answer and message
goes through to get recommendations and log their impressions), :mod:`.blocks` (the blocks of the
pages: rendering and the cache, blocks rendered ahead among them) and :mod:`.tasks`."""
