"""The composition root: settings, wiring and the command line (`seedbot …`). It imports
every layer and is imported by none of them."""
