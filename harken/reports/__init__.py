"""Reports: pandas over the store, formatted as tables, JSON or CSV."""
