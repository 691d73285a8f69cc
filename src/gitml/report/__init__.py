"""`gitml report`: pull-request and experiment comparison reports.

`core` diffs and judges (pure), `adapter` reads git and DVC, `render` fills the Jinja2 templates in
reports/templates/, `api` ties them together and `cli` is the command.
"""
