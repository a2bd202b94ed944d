"""``python -m regsosek …`` runs ``regsosek …``."""

from api.cli import main

if __name__ == "__main__":
    main()
