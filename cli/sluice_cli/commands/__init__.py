"""The `sluice` commands, one module each; `sluice_cli.main` registers them on the app.

`context` holds what they share (global options, AWS session, registry table, errors and exit codes),
`output` how they print (rich tables, one JSON document).
"""
