"""``python -m img2img`` runs the command-line interface."""

from img2img.cli import main

if __name__ == "__main__":
    main()
