"""The `sluice` CLI and the local sandbox (runs on the user's machine, never shipped to Lambda)."""
