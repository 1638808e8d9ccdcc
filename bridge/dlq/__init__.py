"""The dead-letter topic for people: read it without committing, filter, summarise, mask.

kafka/dead_letter_reader.py ──> letters.py (headers -> DeadLetter) ──> filters.py
                                                                 └──> summary.py, samples.py
show.py        `bridge dlq show`: the summary, samples, --follow
(replay/dead_letters.py: `bridge dlq replay` takes the same filters and the loop guard)
"""
