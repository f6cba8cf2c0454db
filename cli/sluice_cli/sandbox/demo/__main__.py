"""`python -m sluice_cli.sandbox.demo` (`make demo`): the story on a fresh sandbox, exit code 0 if it held."""

from sluice_cli.sandbox.demo.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
