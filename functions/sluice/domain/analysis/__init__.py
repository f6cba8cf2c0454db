"""The canary analysis: candidate against baseline on the same window, from the request counts
CloudWatch keeps per variant (pure: statistics and verdicts, no I/O)."""
