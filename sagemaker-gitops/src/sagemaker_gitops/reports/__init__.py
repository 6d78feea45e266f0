"""`mlops report ...`: self-contained HTML pages, and their PNGs, for comparing runs.

tuning.py compares the trials of tuning jobs; experiments.py compares pipeline executions;
page.py is what both write.
"""
