"""Reports: pandas over the store, formatted as tables, JSON, CSV and PNG charts (scope.py,
frames.py, tabular.py, one module per report), exports of the rows (export.py), and the
daily PR digest (digest*.py, charts.py)."""
