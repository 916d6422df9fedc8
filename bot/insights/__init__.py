"""Insights over customer data: review polarity and key phrases, conversation statistics.

Modules: :mod:`bot.insights.reading` (review files), :mod:`bot.insights.polarity`,
:mod:`bot.insights.star_adaptation` (the Korean model recalibrated on a file's stars),
:mod:`bot.insights.keyphrases`, :mod:`bot.insights.reviews` (the analysis) and
:mod:`bot.insights.html` (self-contained HTML reports with inline SVG charts).
"""

from __future__ import annotations


class InsightsError(Exception):
    """Bad input for an insights command: one line, naming the file and what was wrong."""
