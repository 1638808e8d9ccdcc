"""Replays: fixed offset ranges sent through the engine again, under a group of their own.

ranges.py        the shared loop: read each range from its start, commit under the
                 replay's group, stop once every range is committed to its end
dead_letters.py  `bridge dlq replay`: a range of the dead-letter topic, each record
                 restored to what it was before it failed; the filters and the loop guard
                 choose which are sent (bridge/dlq/)
dead_letter_dry_run.py  `bridge dlq replay --dry-run`: what would be sent, mapped, not sent
source.py        `bridge replay`: a time window of the source topics (a backfill)
"""
