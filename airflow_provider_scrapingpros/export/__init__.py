"""The pieces of `ScrapingProsExportResultsOperator` (operators/export.py): safe keys, layouts,
part files, resume state, result fetching, progress. `engine.ExportEngine` ties them together."""
