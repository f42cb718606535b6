"""`python -m qa` runs the CLI."""

from qa.cli import main

if __name__ == "__main__":  # imported (a tool that walks the package) it runs nothing
    main()
