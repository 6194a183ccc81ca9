"""One module per seed study (docs/studies.md §1-§5); ``examples/reproduce_study.py`` runs them."""
