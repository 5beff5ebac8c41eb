"""The pieces of `ScrapingProsExportResultsOperator` (operators/export.py): safe keys, layouts,
part files, resume state, the `_SUCCESS.json` marker, result fetching, progress.
`runner.ExportRunner` ties them together."""
